import { RegistryHttpError } from './registry-client';

/**
 * What a failed schema lookup (`GET /schemas/ids/<id>`) says about the id:
 * - `not-found`: the registry answered 404. The id MAY be unknown, but a registry in failover, or
 *   restored from an older backup, answers 404 for ids that exist: the codec makes it poison only
 *   when the registry is proven healthy and the 404 persists over a grace period (unknown-ids.ts).
 * - `unavailable`: anything else. No HTTP answer at all (refused, reset, timed out, DNS, host or
 *   network unreachable, broken pipe, fetch failed, the mappersmith timeout, an abort), every other
 *   status (401, 403, 408, 429, 5xx, even 400 or a redirect), a 200 with a body that is not a usable
 *   schema: none of it is a property of the record, so it is always retried.
 *
 * Deliberately an allow-list of one: no list of error codes to keep complete, a failure nobody
 * thought of is retried rather than dead-lettered.
 */
export type RegistryFailure = 'not-found' | 'unavailable';

export function classifyRegistryFailure(e: unknown): RegistryFailure {
  return httpStatusOf(e) === 404 ? 'not-found' : 'unavailable';
}

/**
 * The HTTP status of an error that IS an HTTP answer: ours (RegistryHttpError) or the registry
 * library's (mappersmith's ResponseError carries `status`, but it also reports a connection failure
 * or its own timeout as status 400, which is why nothing but 404 is ever read from it).
 */
function httpStatusOf(e: unknown): number | undefined {
  if (e instanceof RegistryHttpError) return e.status;
  if (e instanceof Error) {
    const status = (e as { status?: unknown }).status;
    if (typeof status === 'number') return status;
  }
  return undefined;
}
