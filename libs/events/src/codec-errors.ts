/**
 * The two answers decoding may give besides a value. Nothing else escapes EventCodec's decode.
 *
 * - InvalidEventError: the record's own bytes are bad (poison). Consumers dead-letter it.
 * - RegistryUnavailableError: the writer schema of the record could not be obtained. That is the
 *   registry's problem, never the record's: consumers retry, and never move past the record.
 */

/**
 * Why a record is poison:
 * - `undecodable`: the bytes are not a record of our schema (missing or short value, bad magic
 *   byte, a body that does not decode with its writer schema resolved to our reader schema, a
 *   writer schema that cannot be resolved to the reader, a schema id the registry proved unknown);
 * - `invalid`: it decodes, but the domain rejects a value (eventId not a UUIDv7, a bad id, ...).
 */
export type InvalidEventReason = 'undecodable' | 'invalid';

export class InvalidEventError extends Error {
  readonly retriable = false;

  constructor(
    readonly reason: InvalidEventReason,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

export class RegistryUnavailableError extends Error {
  readonly retriable = true;

  constructor(
    /** the schema id the record carries */
    readonly schemaId: number,
    /** what went wrong (a network error, an HTTP answer, a health-check failure, ...) */
    cause: unknown,
    why?: string,
  ) {
    super(
      `schema registry unavailable for schema id ${schemaId}: ${why ?? describe(cause)} (retry; the record is not at fault)`,
      { cause },
    );
    this.name = 'RegistryUnavailableError';
  }
}

/**
 * A short description of any thrown value, with the network code when there is one (fetch hides
 * it in `cause`). Duck-typed: errors from node's internals can come from another realm (jest's
 * sandbox), where `instanceof Error` is false.
 */
export function describe(e: unknown): string {
  if (typeof e !== 'object' || e === null || typeof (e as { message?: unknown }).message !== 'string')
    return String(e);
  const { name, message, code, cause } = e as {
    name?: unknown;
    message: string;
    code?: unknown;
    cause?: unknown;
  };
  const label = typeof name === 'string' && name !== 'Error' ? `${name}: ` : '';
  const inner = cause === undefined ? '' : `: ${describe(cause)}`;
  return `${label}${message}${typeof code === 'string' ? ` (${code})` : ''}${inner}`;
}
