import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfluentSchemaRegistryCompatibilityError } from '@kafkajs/confluent-schema-registry/dist/errors';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import { isValidId } from './ids';
import { readSchema } from './schemas';
import type { CountChanged, LikeEvent } from './types';
import { UUID_V7_PATTERN } from './uuidv7';

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

export interface CodecTopics {
  events: string;
  counts: string;
}

/** TopicNameStrategy: the value subject of a topic. */
export const valueSubject = (topic: string): string => `${topic}-value`;

/** The part of an avsc Type the fast encoder uses (the registry library's cached schema instance). */
interface AvroWriter {
  /** writes `value` at `pos`; returns the end position, or a negative number when `buf` is too short */
  encode(value: unknown, buf: Buffer, pos: number): number;
}

/** A value's Avro body is written here after the 5-byte header, then copied out in one allocation. */
const SCRATCH_BYTES = 64 * 1024;
let scratch: Buffer | undefined;

/**
 * Avro in the Confluent wire format (magic 0, 4-byte schema id, body) through a Confluent-compatible
 * registry. `init()` registers (or finds) both schemas with BACKWARD compatibility and caches the ids;
 * after that encoding is local, and decoding asks the registry once per unseen schema id.
 *
 * Encoding is synchronous once `init()` resolved: the avsc Type the registry library built for the
 * registered schema writes the body straight after the header (one allocation, no promise). The
 * bytes are the library's (`registry.encode` is `toBuffer` + the same header; both use the Type's
 * checking writer); a value the writer rejects is handed to the library so the error is its
 * ConfluentSchemaRegistryValidationError with the invalid paths.
 */
export class EventCodec {
  private readonly registry: SchemaRegistry;
  private likeId?: number;
  private countId?: number;
  private likeWriter?: AvroWriter;
  private countWriter?: AvroWriter;

  constructor(
    readonly registryUrl: string,
    private readonly topics: CodecTopics,
    /** per registry request; the library retries a few times, so a hung registry fails in bounded time */
    requestTimeoutMs = 3000,
  ) {
    this.registry = new SchemaRegistry({
      host: registryUrl,
      clientId: 'doubletap',
      middlewares: [TimeoutMiddleware(requestTimeoutMs)],
    });
  }

  async init(): Promise<{ likeEventId: number; countChangedId: number }> {
    this.likeId = await this.register(this.topics.events, readSchema('like-event.avsc'));
    this.countId = await this.register(this.topics.counts, readSchema('count-changed.avsc'));
    this.likeWriter = (await this.registry.getSchema(this.likeId)) as unknown as AvroWriter;
    this.countWriter = (await this.registry.getSchema(this.countId)) as unknown as AvroWriter;
    return { likeEventId: this.likeId, countChangedId: this.countId };
  }

  get ready(): boolean {
    return this.likeWriter !== undefined && this.countWriter !== undefined;
  }

  get schemaIds(): { likeEvent?: number; countChanged?: number } {
    return { likeEvent: this.likeId, countChanged: this.countId };
  }

  /**
   * Registers (or finds) the schema with BACKWARD compatibility. The library sets the level only
   * after a first registration, so when several processes register a new subject at once, one can
   * read the subject's level in between (the registry's default) and refuse, or two can both try
   * to set it (Apicurio: "A rule named 'COMPATIBILITY' already exists"). The level settles within
   * milliseconds, so either is retried a few times before it is final.
   */
  private async register(topic: string, schema: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema },
          { subject: valueSubject(topic), compatibility: COMPATIBILITY.BACKWARD },
        );
        return id;
      } catch (e) {
        if (!registrationRace(e) || attempt >= 5) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  async encodeLike(event: LikeEvent): Promise<Buffer> {
    return this.encodeLikeNow(event) ?? this.slowEncode(this.likeId!, event);
  }

  async encodeCount(change: CountChanged): Promise<Buffer> {
    if (this.countId === undefined || this.countWriter === undefined)
      throw new Error('EventCodec.init() has not resolved the CountChanged schema id');
    return wireEncode(this.countId, this.countWriter, change) ?? this.slowEncode(this.countId, change);
  }

  /**
   * The wire-format bytes of a LikeEvent, synchronously (the api's hot path); undefined when the
   * Avro writer rejects the value: {@link encodeLike} then throws the registry library's error.
   */
  encodeLikeNow(event: LikeEvent): Buffer | undefined {
    if (this.likeId === undefined || this.likeWriter === undefined)
      throw new Error('EventCodec.init() has not resolved the LikeEvent schema id');
    return wireEncode(this.likeId, this.likeWriter, event);
  }

  /** The registry library's own encoder (used to produce its validation error, and by tests). */
  slowEncode(schemaId: number, value: unknown): Promise<Buffer> {
    return this.registry.encode(schemaId, value);
  }

  /** Decodes and validates a likes.events value; throws InvalidEventError with the reason. */
  async decodeLike(value: Buffer | null): Promise<LikeEvent> {
    const raw = await this.decode(value);
    return assertLikeEvent(raw);
  }

  async decodeCount(value: Buffer | null): Promise<CountChanged> {
    const raw = await this.decode(value);
    return assertCountChanged(raw);
  }

  private async decode(value: Buffer | null): Promise<Record<string, unknown>> {
    if (!value || value.length < 6)
      throw new InvalidEventError('value is empty or shorter than the wire-format header');
    if (value[0] !== 0)
      throw new InvalidEventError(`unknown magic byte ${value[0]} (expected 0, Confluent wire format)`);
    try {
      return (await this.registry.decode(value)) as Record<string, unknown>;
    } catch (e) {
      // a registry that cannot be reached is not a property of the record: let the caller retry
      if (registryUnavailable(e)) throw e;
      throw new InvalidEventError(`undecodable Avro: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** Magic byte 0, the schema id (big-endian int32), the Avro body; undefined if the writer rejects `value`. */
function wireEncode(schemaId: number, writer: AvroWriter, value: unknown): Buffer | undefined {
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  let end: number;
  try {
    end = writer.encode(value, scratch, 5);
  } catch {
    return undefined;
  }
  if (end < 0) return undefined; // larger than the scratch buffer: let the library allocate
  const out = Buffer.allocUnsafe(end);
  out[0] = 0;
  out.writeInt32BE(schemaId, 1);
  scratch.copy(out, 5, 5, end);
  return out;
}

export function assertLikeEvent(raw: Record<string, unknown>): LikeEvent {
  const { eventId, postId, userId, action, occurredAt } = raw;
  if (typeof eventId !== 'string' || !UUID_V7_PATTERN.test(eventId))
    throw new InvalidEventError(`eventId ${String(eventId)} is not a UUIDv7`);
  if (!isValidId(postId))
    throw new InvalidEventError(`postId ${String(postId)} does not match ^[A-Za-z0-9_-]{1,64}$`);
  if (!isValidId(userId))
    throw new InvalidEventError(`userId ${String(userId)} does not match ^[A-Za-z0-9_-]{1,64}$`);
  if (action !== 'LIKE' && action !== 'UNLIKE')
    throw new InvalidEventError(`action ${String(action)} is not LIKE or UNLIKE`);
  const at = occurredAt instanceof Date ? occurredAt.getTime() : occurredAt;
  if (typeof at !== 'number' || !Number.isFinite(at))
    throw new InvalidEventError('occurredAt is not a timestamp');
  return { eventId, postId, userId, action, occurredAt: at };
}

export function assertCountChanged(raw: Record<string, unknown>): CountChanged {
  const { postId, partition, count, sourceOffset } = raw;
  if (!isValidId(postId)) throw new InvalidEventError(`postId ${String(postId)} is invalid`);
  for (const [name, v] of Object.entries({ partition, count, sourceOffset })) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidEventError(`${name} ${String(v)} is not a non-negative integer`);
  }
  return {
    postId,
    partition: partition as number,
    count: count as number,
    sourceOffset: sourceOffset as number,
  };
}

/**
 * True when a registry call failed because of the registry, not the record: no connection, a
 * timeout (the library reports both as status 400 with the cause in the message) or a 5xx.
 * A 404 for the schema id stays a property of the record.
 */
function registryUnavailable(e: unknown): boolean {
  const status = (e as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 500) return true;
  const why = e instanceof Error ? e.message : String(e);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|socket hang up|fetch failed|Timeout \(\d+ms\)/i.test(why);
}

/** The two ways concurrent first registrations of one subject collide (see EventCodec.register). */
function registrationRace(e: unknown): boolean {
  if (e instanceof ConfluentSchemaRegistryCompatibilityError) return true;
  return e instanceof Error && /A rule named 'COMPATIBILITY' already exists/.test(e.message);
}
