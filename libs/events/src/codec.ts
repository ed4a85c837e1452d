import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import { AvroReader, wireSchemaId } from './avro-reader';
import { InvalidEventError, RegistryUnavailableError } from './codec-errors';
import { assertCountChanged, assertDecodedLikeEvent } from './event-validation';
import { RegistryClient, RegistryHttpError, type SchemaRegistryApi } from './registry-client';
import { readSchema } from './schemas';
import type { CountChanged, LikeEvent } from './types';
import type { UnknownIdPolicy } from './unknown-ids';
import { WriterSchemas } from './writer-schemas';

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

/** schema lookups prefetch() keeps in flight at once */
const PREFETCH_CONCURRENCY = 8;

/** The compatibility level of our subjects (docs/adr/0006-schema-evolution.md). */
export const COMPATIBILITY_LEVEL = 'FULL_TRANSITIVE';

export interface EventCodecOptions {
  /** per registry request (default 3000 ms): a hung registry fails in bounded time, and is retried */
  requestTimeoutMs?: number;
  /** when a 404 for a schema id proves it unknown (unknown-ids.ts); tests shorten the grace */
  unknownSchemaIds?: Partial<UnknownIdPolicy>;
  /** pure unit tests only: a registry and a clock of their own */
  registryApi?: SchemaRegistryApi;
  now?: () => number;
}

export interface SubjectCompatibility {
  subject: string;
  compatibility: string;
}

/**
 * Avro in the Confluent wire format (magic 0, 4-byte schema id, body) through a Confluent-compatible
 * registry. `init()` registers (or finds) both schemas, new subjects at FULL_TRANSITIVE, and caches
 * the ids; after that encoding is local.
 *
 * Encoding is synchronous once `init()` resolved: the avsc Type the registry library built for the
 * registered schema writes the body straight after the header (one allocation, no promise). The
 * bytes are the library's (`registry.encode` is `toBuffer` + the same header; both use the Type's
 * checking writer); a value the writer rejects is handed to the library so the error is its
 * ConfluentSchemaRegistryValidationError with the invalid paths.
 *
 * Decoding resolves the record's writer schema (fetched by id once, cached forever) to our FIXED
 * reader schema (schemas/*.avsc), so any compatible writer version decodes to our type. It throws
 * only InvalidEventError (the bytes are poison: dead-letter) or RegistryUnavailableError (the
 * writer schema could not be obtained: retry). The hot path is synchronous: decodeLikeSync answers
 * from the cache, or undefined when the writer schema must be fetched first (decodeLike, prefetch).
 */
export class EventCodec {
  /** the registry library: the encoder's Types and its validation errors; decoding does not use it */
  private readonly registry: SchemaRegistry;
  private readonly api: SchemaRegistryApi;
  private readonly writers: WriterSchemas;
  private readonly likes = new AvroReader('LikeEvent', readSchema('like-event.avsc'), assertDecodedLikeEvent);
  private readonly counts = new AvroReader(
    'CountChanged',
    readSchema('count-changed.avsc'),
    assertCountChanged,
  );
  private likeId?: number;
  private countId?: number;
  private likeWriter?: AvroWriter;
  private countWriter?: AvroWriter;
  private lookedUpOwnIds?: Promise<number[]>;
  private compatibility?: { events: string; counts: string };

  constructor(
    readonly registryUrl: string,
    private readonly topics: CodecTopics,
    /** the request timeout in ms (the old signature), or the options */
    options: number | EventCodecOptions = {},
  ) {
    const opts = typeof options === 'number' ? { requestTimeoutMs: options } : options;
    const requestTimeoutMs = opts.requestTimeoutMs ?? 3000;
    this.registry = new SchemaRegistry({
      host: registryUrl,
      clientId: 'doubletap',
      middlewares: [TimeoutMiddleware(requestTimeoutMs)],
    });
    this.api = opts.registryApi ?? new RegistryClient(registryUrl, requestTimeoutMs);
    this.writers = new WriterSchemas(this.api, () => this.ownIds(), opts.unknownSchemaIds, opts.now);
  }

  async init(): Promise<{
    likeEventId: number;
    countChangedId: number;
    compatibility: { events: string; counts: string };
  }> {
    const events = await this.register(valueSubject(this.topics.events), readSchema('like-event.avsc'));
    const counts = await this.register(valueSubject(this.topics.counts), readSchema('count-changed.avsc'));
    this.likeWriter = (await this.registry.getSchema(events.id)) as unknown as AvroWriter;
    this.countWriter = (await this.registry.getSchema(counts.id)) as unknown as AvroWriter;
    // our own ids decode without a lookup, and are what proves the registry healthy later on
    await this.writers.load(events.id);
    await this.writers.load(counts.id);
    this.likeId = events.id;
    this.countId = counts.id;
    this.compatibility = { events: events.compatibility, counts: counts.compatibility };
    return { likeEventId: events.id, countChangedId: counts.id, compatibility: this.compatibility };
  }

  /** true once both encoders work: the ids are set last in init(), after the writers loaded */
  get ready(): boolean {
    return (
      this.likeId !== undefined &&
      this.countId !== undefined &&
      this.likeWriter !== undefined &&
      this.countWriter !== undefined
    );
  }

  get schemaIds(): { likeEvent?: number; countChanged?: number } {
    return { likeEvent: this.likeId, countChanged: this.countId };
  }

  /**
   * Registers (or finds) the schema. A subject the registry does not know yet gets FULL_TRANSITIVE
   * first (Confluent and Apicurio 3.3 take a subject's config before its first version), so its first
   * versions are already checked; a subject that exists keeps its level (`doubletap setup` sets it,
   * see enforceCompatibility). When several processes register a new subject at once, two can both
   * create its rule (Apicurio: "A rule named 'COMPATIBILITY' already exists") or collide creating
   * the subject (409): it settles within milliseconds, so a collision is retried a few times
   * before it is final (a 409 that stays is a real incompatibility).
   */
  private async register(subject: string, schema: string): Promise<{ id: number; compatibility: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const level = await this.api.getCompatibility(subject);
        let setBefore = false;
        if (level === null) setBefore = await this.setLevelOfNewSubject(subject);
        const id = await this.api.register(subject, schema);
        if (level === null && !setBefore) await this.api.setCompatibility(subject, COMPATIBILITY_LEVEL);
        return { id, compatibility: level ?? COMPATIBILITY_LEVEL };
      } catch (e) {
        if (!registrationRace(e) || attempt >= 5) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  /** Sets the level of a subject that has no version yet; false when the registry wants the version first. */
  private async setLevelOfNewSubject(subject: string): Promise<boolean> {
    try {
      await this.api.setCompatibility(subject, COMPATIBILITY_LEVEL);
      return true;
    } catch (e) {
      if (e instanceof RegistryHttpError && e.status === 404) return false; // older Apicurio: subject first
      throw e;
    }
  }

  /**
   * Sets FULL_TRANSITIVE on both subjects, whatever they had (the setup path: `doubletap setup`,
   * `doubletap schemas setup`), and answers the levels the registry reports afterwards.
   */
  async enforceCompatibility(): Promise<SubjectCompatibility[]> {
    const out: SubjectCompatibility[] = [];
    for (const topic of [this.topics.events, this.topics.counts]) {
      const subject = valueSubject(topic);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.api.setCompatibility(subject, COMPATIBILITY_LEVEL);
          break;
        } catch (e) {
          if (!registrationRace(e) || attempt >= 5) throw e;
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
        }
      }
      out.push({ subject, compatibility: (await this.api.getCompatibility(subject)) ?? 'unknown' });
    }
    return out;
  }

  /**
   * The ids that prove the registry healthy: the ones init() registered, or, in a codec that only
   * decodes and never ran init(), our schemas looked up (not registered) under the two subjects,
   * once. Until a lookup succeeds a 404 is never proof of anything.
   */
  private ownIds(): Promise<number[]> {
    if (this.likeId !== undefined && this.countId !== undefined)
      return Promise.resolve([this.likeId, this.countId]);
    this.lookedUpOwnIds ??= (async () => [
      await this.api.lookup(valueSubject(this.topics.events), readSchema('like-event.avsc')),
      await this.api.lookup(valueSubject(this.topics.counts), readSchema('count-changed.avsc')),
    ])();
    const lookup = this.lookedUpOwnIds;
    lookup.catch(() => {
      if (this.lookedUpOwnIds === lookup) this.lookedUpOwnIds = undefined; // try again next time
    });
    return lookup;
  }

  async encodeLike(event: LikeEvent): Promise<Buffer> {
    return this.encodeLikeNow(event) ?? this.slowEncode(this.likeId!, event);
  }

  async encodeCount(change: CountChanged): Promise<Buffer> {
    return this.encodeCountNow(change) ?? this.slowEncode(this.countId!, change);
  }

  /**
   * The wire-format bytes of a CountChanged, synchronously (the aggregator's output: no promise per
   * record); undefined when the Avro writer rejects the value: {@link encodeCount} then throws the
   * registry library's error.
   */
  encodeCountNow(change: CountChanged): Buffer | undefined {
    if (this.countId === undefined || this.countWriter === undefined)
      throw new Error('EventCodec.init() has not resolved the CountChanged schema id');
    return wireEncode(this.countId, this.countWriter, change);
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

  /**
   * A likes.events value as a LikeEvent, synchronously, when the writer schema of its id is cached
   * (the hot path: no promise per record); undefined when it must be fetched first (then await
   * decodeLike, or prefetch the batch's ids). Throws InvalidEventError when the record is poison.
   */
  decodeLikeSync(value: Buffer | null): LikeEvent | undefined {
    return this.decodeSync(value, this.likes);
  }

  decodeCountSync(value: Buffer | null): CountChanged | undefined {
    return this.decodeSync(value, this.counts);
  }

  /** Decodes and validates a likes.events value: InvalidEventError (poison) or RegistryUnavailableError (retry). */
  async decodeLike(value: Buffer | null): Promise<LikeEvent> {
    return this.decode(value, this.likes);
  }

  async decodeCount(value: Buffer | null): Promise<CountChanged> {
    return this.decode(value, this.counts);
  }

  /**
   * Fetches the writer schemas of these ids (e.g. a batch's, see wireSchemaId) so that the sync
   * decoders answer for every record carrying one. Resolves once each id is cached or proven
   * poison; throws RegistryUnavailableError when one could not be obtained (retry later).
   */
  async prefetch(schemaIds: Iterable<number>): Promise<void> {
    const missing = [...new Set(schemaIds)].filter((id) => this.writers.cached(id) === undefined);
    let failed: RegistryUnavailableError | undefined;
    // every id is asked even after one failed, a few at a time: the grace periods of a batch's
    // unknown ids then run side by side instead of one after the other
    const next = missing[Symbol.iterator]();
    const worker = async () => {
      for (let step = next.next(); !step.done; step = next.next()) {
        const id = step.value;
        try {
          await this.writers.get(id);
        } catch (e) {
          failed ??= unavailable(id, e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PREFETCH_CONCURRENCY, missing.length) }, worker));
    if (failed) throw failed;
  }

  private decodeSync<T>(value: Buffer | null, reader: AvroReader<T>): T | undefined {
    const id = wireSchemaId(value);
    try {
      const writer = this.writers.cached(id);
      return writer === undefined ? undefined : reader.read(value!, id, writer);
    } catch (e) {
      if (e instanceof InvalidEventError) throw e;
      throw unavailable(id, e);
    }
  }

  private async decode<T>(value: Buffer | null, reader: AvroReader<T>): Promise<T> {
    const id = wireSchemaId(value);
    try {
      return reader.read(value!, id, await this.writers.get(id));
    } catch (e) {
      if (e instanceof InvalidEventError) throw e;
      throw unavailable(id, e);
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

/**
 * Nothing but the two decode errors leaves the codec: anything unexpected on the way to the writer
 * schema is retried, never taken for poison (a stalled record can be looked at; a lost one is gone).
 */
function unavailable(id: number, e: unknown): RegistryUnavailableError {
  return e instanceof RegistryUnavailableError ? e : new RegistryUnavailableError(id, e);
}

/** The ways concurrent first registrations of one subject collide (see EventCodec.register). */
function registrationRace(e: unknown): boolean {
  if (e instanceof RegistryHttpError && e.status === 409) return true;
  return e instanceof Error && /A rule named 'COMPATIBILITY' already exists/.test(e.message);
}
