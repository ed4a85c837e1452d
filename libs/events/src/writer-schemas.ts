import { Type } from 'avsc';
import { describe, InvalidEventError, RegistryUnavailableError } from './codec-errors';
import { UnusableAnswerError, type SchemaRegistryApi } from './registry-client';
import { classifyRegistryFailure } from './registry-failures';
import { UnknownSchemaIds, type UnknownIdPolicy } from './unknown-ids';

/**
 * A writer schema, by id: the avsc Type to resolve into a reader, or the proof that every record
 * carrying the id is poison (a schema that is not Avro).
 */
export type WriterSchema = Type | InvalidEventError;

/**
 * The writer schemas of the records, fetched from the registry by id and cached forever (a
 * registry never changes what an id means). Every failure to obtain one is a
 * RegistryUnavailableError, except the two proofs that the record is at fault, which are
 * InvalidEventError('undecodable'): the id's schema is not Avro, or the id is proven unknown, i.e.
 * the registry answered 404 for it while it still served the codec's own schema ids (checked in
 * the same attempt), and kept answering 404 over the grace period (unknown-ids.ts).
 */
export class WriterSchemas {
  private readonly cache = new Map<number, WriterSchema>();
  private readonly inflight = new Map<number, Promise<WriterSchema>>();
  private readonly unknown: UnknownSchemaIds;
  /** the latest registry health probe, and how many were started (see healthProblem) */
  private probe?: { index: number; result: Promise<string | undefined> };
  private probesStarted = 0;

  constructor(
    private readonly api: SchemaRegistryApi,
    /** the ids this codec registered or resolved itself: the registry is healthy while it serves them */
    private readonly ownIds: () => Promise<number[]>,
    policy: Partial<UnknownIdPolicy> = {},
    now: () => number = Date.now,
  ) {
    this.unknown = new UnknownSchemaIds(policy, now);
  }

  /** The cached writer schema of `id`, or undefined when it must be fetched (or is proven unknown: see `known`). */
  cached(id: number): WriterSchema | undefined {
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    if (this.unknown.isUnknown(id)) return unknownId(id);
    return undefined;
  }

  /** The writer schema of `id`; throws RegistryUnavailableError, never anything else. */
  async get(id: number): Promise<WriterSchema> {
    const hit = this.cached(id);
    if (hit !== undefined) return hit;
    if (this.unknown.checkedRecently(id))
      throw new RegistryUnavailableError(
        id,
        undefined,
        'the registry answered 404 for it moments ago; waiting out the grace period before calling it unknown',
      );
    let request = this.inflight.get(id);
    if (!request) {
      // records with the same new id arrive together: one request for all of them
      request = this.fetch(id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, request);
    }
    return request;
  }

  /** Caches what the registry serves for `id` (init() does this for the codec's own ids). */
  async load(id: number): Promise<WriterSchema> {
    const schema = parse(id, await this.api.schemaById(id));
    this.cache.set(id, schema);
    return schema;
  }

  private async fetch(id: number): Promise<WriterSchema> {
    let lookupError: unknown;
    try {
      const schema = await this.load(id);
      this.unknown.found(id);
      return schema;
    } catch (e) {
      if (e instanceof RegistryUnavailableError) throw e;
      if (classifyRegistryFailure(e) === 'unavailable') throw new RegistryUnavailableError(id, e);
      lookupError = e;
    }
    // 404: the id may be unknown, or the registry may be failing over / restored without it
    const probesBefore = this.probesStarted;
    const own = await this.ownIdsOrProblem();
    const unhealthy =
      typeof own === 'string'
        ? own
        : own.includes(id)
          ? `schema id ${id} is one of the codec's own`
          : await this.healthProblem(own, probesBefore);
    if (unhealthy !== undefined)
      throw new RegistryUnavailableError(
        id,
        lookupError,
        `the registry answered 404, and it is not proven healthy (${unhealthy})`,
      );
    const verdict = this.unknown.notFound(id);
    if (verdict.unknown) return unknownId(id, verdict.attempts, verdict.sinceFirstMs);
    throw new RegistryUnavailableError(
      id,
      lookupError,
      `the registry answered 404 (${verdict.attempts} time(s) over ${verdict.sinceFirstMs} ms while healthy); not yet proven unknown`,
    );
  }

  private async ownIdsOrProblem(): Promise<number[] | string> {
    try {
      const own = await this.ownIds();
      return own.length > 0 ? own : 'the codec knows none of its own schema ids';
    } catch (e) {
      return `the codec's own schema ids could not be resolved: ${describe(e)}`;
    }
  }

  /**
   * Why the registry cannot be trusted to know what it does not have, or undefined when it can:
   * it still serves every id this codec registered or resolved itself, as it served it before.
   * The probe must start after the 404 it vouches for (`probesBefore`: the count of probes started
   * when that 404 arrived); 404s that arrive together (a batch's ids, prefetched) share one.
   */
  private healthProblem(own: number[], probesBefore: number): Promise<string | undefined> {
    if (this.probe && this.probe.index >= probesBefore) return this.probe.result;
    const probe = { index: this.probesStarted++, result: this.probeHealth(own) };
    this.probe = probe;
    return probe.result;
  }

  private async probeHealth(own: number[]): Promise<string | undefined> {
    for (const ownId of own) {
      try {
        const served = parse(ownId, await this.api.schemaById(ownId));
        const before = this.cache.get(ownId);
        if (!(served instanceof Type)) return `own schema id ${ownId} is not an Avro schema`;
        if (before instanceof Type && !served.equals(before))
          return `own schema id ${ownId} now means another schema`;
        this.cache.set(ownId, before ?? served);
      } catch (e) {
        return `own schema id ${ownId}: ${describe(e)}`;
      }
    }
    return undefined;
  }
}

function unknownId(id: number, attempts?: number, sinceFirstMs?: number): InvalidEventError {
  const proof =
    attempts === undefined
      ? ''
      : ` (404 from a healthy registry ${attempts} times over ${Math.round(sinceFirstMs ?? 0)} ms)`;
  return new InvalidEventError('undecodable', `undecodable: unknown schema id ${id}${proof}`);
}

/**
 * The avsc Type of a registry answer. A well-formed answer that says the schema is not Avro makes
 * the record poison; an answer that is not a usable schema at all is the registry's problem.
 */
function parse(id: number, answer: { schema: string; schemaType?: string }): WriterSchema {
  const kind = (answer.schemaType ?? 'AVRO').toUpperCase();
  if (kind !== 'AVRO')
    return new InvalidEventError('undecodable', `undecodable: schema id ${id} is a ${kind} schema, not Avro`);
  let json: unknown;
  try {
    json = JSON.parse(answer.schema);
  } catch (e) {
    throw new UnusableAnswerError(`GET /schemas/ids/${id}`, `the schema is not JSON (${describe(e)})`);
  }
  try {
    return Type.forSchema(json as Parameters<typeof Type.forSchema>[0]);
  } catch (e) {
    throw new UnusableAnswerError(
      `GET /schemas/ids/${id}`,
      `not an Avro schema avsc can read (${describe(e)})`,
    );
  }
}
