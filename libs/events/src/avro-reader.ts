import { Type } from 'avsc';
import { describe, InvalidEventError } from './codec-errors';
import type { WriterSchema } from './writer-schemas';

/**
 * The Confluent wire format: magic byte 0, the writer's schema id (big-endian int32), the Avro body.
 * Returns the schema id; throws InvalidEventError('undecodable') for a value that cannot be one.
 * Both of our record types need at least one body byte whatever the writer (a writer resolvable to
 * our reader writes every reader field that has no default, and each takes a byte or more), so a
 * value without a body is refused here, before any registry lookup.
 */
export function wireSchemaId(value: Buffer | null | undefined): number {
  if (!value || value.length <= 5)
    throw new InvalidEventError(
      'undecodable',
      'value is empty or shorter than the wire-format header and a body',
    );
  if (value[0] !== 0)
    throw new InvalidEventError(
      'undecodable',
      `unknown magic byte ${value[0]} (expected 0, Confluent wire format)`,
    );
  return value.readInt32BE(1);
}

type Decode = (body: Buffer) => unknown;

/**
 * Decodes the bodies of one record type with a FIXED reader schema (ours, from schemas/*.avsc):
 * each writer schema is resolved to the reader once per writer id and kept (ids are immutable),
 * so a new writer version with an added field still decodes to our type, and one that cannot be
 * resolved (incompatible) makes its records poison. Then the domain check of the decoded value.
 */
export class AvroReader<T> {
  private readonly reader: Type;
  private readonly decoders = new Map<number, Decode | InvalidEventError>();

  constructor(
    /** the record's name in messages */
    private readonly name: string,
    schema: string,
    private readonly validate: (raw: Record<string, unknown>) => T,
  ) {
    this.reader = Type.forSchema(JSON.parse(schema) as Parameters<typeof Type.forSchema>[0]);
  }

  /** The value of a record whose header was read (`id`) and whose writer schema is known. Throws InvalidEventError. */
  read(value: Buffer, id: number, writer: WriterSchema): T {
    const decode = this.decoderFor(id, writer);
    if (decode instanceof InvalidEventError) throw decode;
    let raw: unknown;
    try {
      raw = decode(value.subarray(5));
    } catch (e) {
      // truncated, trailing bytes, a bad enum index or length, a long past 2^53, ...
      throw new InvalidEventError(
        'undecodable',
        `undecodable Avro body (writer schema id ${id}): ${describe(e)}`,
      );
    }
    return this.validate(raw as Record<string, unknown>);
  }

  private decoderFor(id: number, writer: WriterSchema): Decode | InvalidEventError {
    const known = this.decoders.get(id);
    if (known !== undefined) return known;
    let decode: Decode | InvalidEventError;
    if (writer instanceof InvalidEventError) decode = writer;
    else if (writer.equals(this.reader)) decode = (body) => this.reader.fromBuffer(body);
    else {
      try {
        const resolver = this.reader.createResolver(writer);
        decode = (body) => this.reader.fromBuffer(body, resolver);
      } catch (e) {
        decode = new InvalidEventError(
          'undecodable',
          `undecodable: writer schema id ${id} cannot be resolved to the ${this.name} reader schema (${describe(e)})`,
        );
      }
    }
    this.decoders.set(id, decode);
    return decode;
  }
}
