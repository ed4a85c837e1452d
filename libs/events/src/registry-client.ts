/**
 * The few calls of the Confluent-compatible schema registry API (Apicurio's ccompat, Confluent)
 * the codec makes, over node's fetch, one bounded request each and no retries: the caller decides
 * what a failure means (see registry-failures.ts) and when to try again.
 */

/** A registry that answered with a status the call does not expect. */
export class RegistryHttpError extends Error {
  constructor(
    readonly status: number,
    /** the Confluent `error_code` of the body, when it has one (40403: schema not found) */
    readonly errorCode: number | undefined,
    what: string,
    body: string,
  ) {
    super(`${what} answered ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.name = 'RegistryHttpError';
  }
}

/** A registry that answered 200 with a body that is not what the call asked for. */
export class UnusableAnswerError extends Error {
  constructor(what: string, why: string) {
    super(`${what} answered 200 with an unusable body: ${why}`);
    this.name = 'UnusableAnswerError';
  }
}

/** `GET /schemas/ids/<id>` as the registry answers it. */
export interface RegisteredSchema {
  schema: string;
  /** absent means AVRO */
  schemaType?: string;
  references?: unknown[];
}

/** What the codec needs from a registry (RegistryClient over HTTP; pure unit tests pass their own). */
export interface SchemaRegistryApi {
  schemaById(id: number): Promise<RegisteredSchema>;
  /** the id of `schema` under `subject`; RegistryHttpError 404 when it is not registered there */
  lookup(subject: string, schema: string): Promise<number>;
  /** registers (or finds) `schema` under `subject`; RegistryHttpError 409 when it is incompatible */
  register(subject: string, schema: string): Promise<number>;
  /** the subject's level, or null when the registry does not know the subject */
  getCompatibility(subject: string): Promise<string | null>;
  setCompatibility(subject: string, level: string): Promise<void>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export class RegistryClient implements SchemaRegistryApi {
  private readonly base: string;

  constructor(
    registryUrl: string,
    private readonly timeoutMs: number,
  ) {
    this.base = registryUrl.replace(/\/+$/, '');
  }

  async schemaById(id: number): Promise<RegisteredSchema> {
    const what = `GET /schemas/ids/${id}`;
    const body = await this.call<RegisteredSchema>('GET', `/schemas/ids/${id}`, what);
    if (typeof body?.schema !== 'string') throw new UnusableAnswerError(what, 'no "schema" string');
    if (body.schemaType !== undefined && typeof body.schemaType !== 'string')
      throw new UnusableAnswerError(what, '"schemaType" is not a string');
    return body;
  }

  async lookup(subject: string, schema: string): Promise<number> {
    const what = `POST /subjects/${subject}`;
    return idOf(what, await this.call('POST', `/subjects/${encodeURIComponent(subject)}`, what, { schema }));
  }

  async register(subject: string, schema: string): Promise<number> {
    const what = `POST /subjects/${subject}/versions`;
    return idOf(
      what,
      await this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, what, { schema }),
    );
  }

  async getCompatibility(subject: string): Promise<string | null> {
    const what = `GET /config/${subject}`;
    try {
      const body = await this.call<{ compatibilityLevel?: unknown; compatibility?: unknown }>(
        'GET',
        `/config/${encodeURIComponent(subject)}`,
        what,
      );
      // Confluent and Apicurio answer compatibilityLevel; accept the PUT body's spelling too
      const level = body?.compatibilityLevel ?? body?.compatibility;
      if (typeof level !== 'string') throw new UnusableAnswerError(what, 'no compatibility level');
      return level.toUpperCase();
    } catch (e) {
      if (e instanceof RegistryHttpError && e.status === 404) return null;
      throw e;
    }
  }

  async setCompatibility(subject: string, level: string): Promise<void> {
    const what = `PUT /config/${subject}`;
    await this.call('PUT', `/config/${encodeURIComponent(subject)}`, what, { compatibility: level });
  }

  private async call<T>(method: string, path: string, what: string, body?: object): Promise<T | undefined> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        accept: `${CONTENT_TYPE}, application/json`,
        ...(body ? { 'content-type': CONTENT_TYPE } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    // a read is answered 200 and nothing else (a 204 from a GET is a broken proxy, not a schema)
    if (method === 'GET' ? res.status !== 200 : !res.ok) {
      let errorCode: number | undefined;
      try {
        const code = (JSON.parse(text) as { error_code?: unknown }).error_code;
        if (typeof code === 'number') errorCode = code;
      } catch {
        // not JSON (a proxy's page): no error code
      }
      throw new RegistryHttpError(res.status, errorCode, what, text);
    }
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UnusableAnswerError(what, `not JSON: ${text.slice(0, 80)}`);
    }
  }
}

function idOf(what: string, body: unknown): number {
  const id = (body as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new UnusableAnswerError(what, 'no integer "id"');
  return id;
}
