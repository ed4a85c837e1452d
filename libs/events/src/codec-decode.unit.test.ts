import { Type } from 'avsc';
import {
  EventCodec,
  InvalidEventError,
  readSchema,
  RegistryHttpError,
  RegistryUnavailableError,
  uuidv7,
  type LikeEvent,
  type RegisteredSchema,
  type SchemaRegistryApi,
} from '@doubletap/events';

/**
 * Decoding against a registry of the test's own (pure: no services). The same classification runs
 * against the real registry behind a fault-injecting proxy in codec-faults.int.test.ts.
 */
const LIKE = readSchema('like-event.avsc');
const COUNT = readSchema('count-changed.avsc');
const likeSchema = JSON.parse(LIKE) as { fields: object[] };
const LIKE_V2 = JSON.stringify({
  ...likeSchema,
  fields: [...likeSchema.fields, { name: 'client', type: ['null', 'string'], default: null }],
});
/** a LikeEvent writer whose postId is an int: cannot be resolved to our reader */
const LIKE_INCOMPATIBLE = JSON.stringify({
  ...likeSchema,
  fields: likeSchema.fields.map((f) =>
    (f as { name: string }).name === 'postId' ? { name: 'postId', type: 'int' } : f,
  ),
});

const OWN_LIKE = 1;
const OWN_COUNT = 2;
const V2 = 3;
const INCOMPATIBLE = 4;
const PROTOBUF = 5;

class FakeRegistry implements SchemaRegistryApi {
  readonly schemas = new Map<number, RegisteredSchema>([
    [OWN_LIKE, { schema: LIKE }],
    [OWN_COUNT, { schema: COUNT }],
    [V2, { schema: LIKE_V2 }],
    [INCOMPATIBLE, { schema: LIKE_INCOMPATIBLE }],
    [PROTOBUF, { schema: 'syntax = "proto3"; message M {}', schemaType: 'PROTOBUF' }],
  ]);
  /** what every schemaById answers instead, while set (ids in `only`, or all) */
  fault?: { error: unknown; only?: number[] };
  readonly calls: number[] = [];

  async schemaById(id: number): Promise<RegisteredSchema> {
    this.calls.push(id);
    if (this.fault && (!this.fault.only || this.fault.only.includes(id))) throw this.fault.error;
    const s = this.schemas.get(id);
    if (!s) throw new RegistryHttpError(404, 40403, `GET /schemas/ids/${id}`, `{"error_code":40403}`);
    return s;
  }
  async lookup(subject: string): Promise<number> {
    return subject === 'e-value' ? OWN_LIKE : OWN_COUNT;
  }
  async register(): Promise<number> {
    throw new Error('not used');
  }
  async getCompatibility(): Promise<string | null> {
    return null;
  }
  async setCompatibility(): Promise<void> {}
}

const wire = (id: number, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, body]);
};
const event = (): LikeEvent => ({
  eventId: uuidv7(),
  postId: 'p1',
  userId: 'u1',
  action: 'LIKE',
  occurredAt: 1_700_000_000_000,
});
const likeType = Type.forSchema(JSON.parse(LIKE) as Parameters<typeof Type.forSchema>[0]);
const v2Type = Type.forSchema(JSON.parse(LIKE_V2) as Parameters<typeof Type.forSchema>[0]);

/** Seeded PRNG (mulberry32), so the random bodies are the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const errorOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
const syncErrorOf = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

describe('EventCodec decoding (fixed reader schema, writer schemas by id)', () => {
  let registry: FakeRegistry;
  let t: number;
  const codec = (policy = { attempts: 3, graceMs: 10_000, recheckMs: 1_000 }) =>
    new EventCodec(
      'http://registry.invalid',
      { events: 'e', counts: 'c' },
      { registryApi: registry, unknownSchemaIds: policy, now: () => t },
    );

  beforeEach(() => {
    registry = new FakeRegistry();
    t = 1_000_000;
  });

  describe('decodeLikeSync (the hot path)', () => {
    it('answers undefined until the writer schema is cached, then decodes without a lookup', async () => {
      const c = codec();
      const e = event();
      const value = wire(OWN_LIKE, likeType.toBuffer(e));
      expect(c.decodeLikeSync(value)).toBeUndefined();
      expect(registry.calls).toEqual([]); // the sync path never asks
      await c.prefetch([OWN_LIKE, OWN_LIKE]);
      expect(registry.calls).toEqual([OWN_LIKE]);
      expect(c.decodeLikeSync(value)).toEqual(e);
      for (let i = 0; i < 100; i++)
        expect(c.decodeLikeSync(wire(OWN_LIKE, likeType.toBuffer({ ...e, postId: `p${i}` })))?.postId).toBe(
          `p${i}`,
        );
      expect(registry.calls).toEqual([OWN_LIKE]);
    });

    it('resolves a newer writer (an added field with a default) to our reader', async () => {
      const c = codec();
      const e = event();
      const value = wire(V2, v2Type.toBuffer({ ...e, client: 'ios' }));
      expect(await c.decodeLike(value)).toEqual(e); // the unknown field is dropped, not an error
      expect(c.decodeLikeSync(value)).toEqual(e);
    });

    it('throws InvalidEventError synchronously for a poison record whose writer is cached', async () => {
      const c = codec();
      await c.prefetch([OWN_LIKE]);
      const bad = wire(OWN_LIKE, likeType.toBuffer({ ...event(), eventId: 'not-a-uuid' }));
      expect(syncErrorOf(() => c.decodeLikeSync(bad))).toMatchObject({
        name: 'InvalidEventError',
        reason: 'invalid',
      });
    });

    it('refuses a record of the other type (a LikeEvent writer is no CountChanged)', async () => {
      const c = codec();
      await c.prefetch([OWN_LIKE]);
      const value = wire(OWN_LIKE, likeType.toBuffer(event()));
      expect(syncErrorOf(() => c.decodeCountSync(value))).toMatchObject({
        reason: 'undecodable',
        message: expect.stringMatching(/cannot be resolved to the CountChanged reader/),
      });
    });
  });

  describe('undecodable bytes are InvalidEventError("undecodable")', () => {
    const good = likeType.toBuffer(event());
    const cases: Array<[string, Buffer | null]> = [
      ['a missing value', null],
      ['an empty value', Buffer.alloc(0)],
      ['a header without a body', wire(OWN_LIKE, Buffer.alloc(0))],
      ['a short header', Buffer.from([0, 0, 0])],
      ['a bad magic byte', Buffer.concat([Buffer.from([1]), wire(OWN_LIKE, good).subarray(1)])],
      ['a truncated body', wire(OWN_LIKE, good.subarray(0, good.length - 1))],
      ['a body cut in half', wire(OWN_LIKE, good.subarray(0, good.length >> 1))],
      ['trailing bytes', wire(OWN_LIKE, Buffer.concat([good, Buffer.from([0])]))],
      // the action (an enum index, before the 6-byte occurredAt) set to 4: LikeAction has 2 symbols
      [
        'a bad enum index',
        wire(
          OWN_LIKE,
          Buffer.concat([
            good.subarray(0, good.length - 7),
            Buffer.from([0x08]),
            good.subarray(good.length - 6),
          ]),
        ),
      ],
      ['a negative string length', wire(OWN_LIKE, Buffer.from([0x01, 0x61, 0x62]))],
      [
        'a long past 2^53',
        wire(
          OWN_LIKE,
          Buffer.concat([
            good.subarray(0, good.length - 6),
            Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
          ]),
        ),
      ],
    ];

    it.each(cases)('%s', async (what, value) => {
      const c = codec();
      await c.prefetch([OWN_LIKE]);
      const error = await errorOf(c.decodeLike(value));
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({ reason: 'undecodable', retriable: false });
      if (what === 'a bad enum index') expect((error as Error).message).toMatch(/invalid .*enum index: 4/);
      expect(syncErrorOf(() => c.decodeLikeSync(value))).toMatchObject({ reason: 'undecodable' });
    });

    it('random bytes behind magic 0 and a known id', async () => {
      const c = codec();
      await c.prefetch([OWN_LIKE, OWN_COUNT]);
      const countType = Type.forSchema(JSON.parse(COUNT) as Parameters<typeof Type.forSchema>[0]);
      const next = random(42);
      let undecodable = 0;
      for (let i = 0; i < 2000; i++) {
        const body = Buffer.from(
          Array.from({ length: 1 + Math.floor(next() * 80) }, () => Math.floor(next() * 256)),
        );
        for (const [id, type, decode] of [
          [OWN_LIKE, likeType, (v: Buffer) => c.decodeLikeSync(v)],
          [OWN_COUNT, countType, (v: Buffer) => c.decodeCountSync(v)],
        ] as const) {
          const error = syncErrorOf(() => decode(wire(id, body)));
          expect(error).toBeInstanceOf(InvalidEventError);
          // 'invalid' only for the rare random body that IS a well-formed record (with garbage values)
          let avroDecodes = true;
          try {
            type.fromBuffer(body);
          } catch {
            avroDecodes = false;
          }
          expect((error as InvalidEventError).reason).toBe(avroDecodes ? 'invalid' : 'undecodable');
          if (!avroDecodes) undecodable++;
        }
      }
      expect(undecodable).toBeGreaterThan(3600); // the test is about undecodable bodies, and has plenty
    });

    it('a writer schema that cannot be resolved to our reader (incompatible)', async () => {
      const c = codec();
      const incompatible = Type.forSchema(
        JSON.parse(LIKE_INCOMPATIBLE) as Parameters<typeof Type.forSchema>[0],
      );
      const value = wire(INCOMPATIBLE, incompatible.toBuffer({ ...event(), postId: 7 }));
      expect(await errorOf(c.decodeLike(value))).toMatchObject({
        reason: 'undecodable',
        message: expect.stringMatching(/schema id 4 cannot be resolved/),
      });
      expect(syncErrorOf(() => c.decodeLikeSync(value))).toMatchObject({ reason: 'undecodable' });
      expect(registry.calls).toEqual([INCOMPATIBLE]); // decided once per id
    });

    it('a schema id whose schema is not Avro', async () => {
      const c = codec();
      expect(await errorOf(c.decodeLike(wire(PROTOBUF, Buffer.from([1, 2, 3]))))).toMatchObject({
        reason: 'undecodable',
        message: expect.stringMatching(/PROTOBUF schema, not Avro/),
      });
    });
  });

  describe('every failure to obtain the writer schema is RegistryUnavailableError', () => {
    const failures: Array<[string, unknown]> = [
      ...[
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        'ENOTFOUND',
        'EAI_AGAIN',
        'EHOSTUNREACH',
        'ENETUNREACH',
        'EPIPE',
        'UND_ERR_SOCKET',
      ].map((code): [string, unknown] => [
        code,
        new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) }),
      ]),
      ['a timeout', new DOMException('The operation was aborted due to timeout', 'TimeoutError')],
      ['the mappersmith timeout', Object.assign(new Error('doubletap - Timeout (3000ms)'), { status: 400 })],
      ...[401, 403, 408, 429, 500, 502, 503, 504].map((s): [string, unknown] => [
        `HTTP ${s}`,
        new RegistryHttpError(s, undefined, 'GET', ''),
      ]),
      ['a 404 (first one)', new RegistryHttpError(404, 40403, 'GET', '')],
      ['something nobody thought of', new RangeError('??')],
      ['a thrown non-error', 42],
    ];

    it.each(failures)('%s, then the same record decodes once the registry answers', async (_what, error) => {
      const c = codec();
      const e = event();
      const value = wire(V2, v2Type.toBuffer({ ...e, client: null }));
      registry.fault = { error };
      const thrown = await errorOf(c.decodeLike(value));
      expect(thrown).toBeInstanceOf(RegistryUnavailableError);
      expect(thrown).not.toBeInstanceOf(InvalidEventError);
      expect(thrown).toMatchObject({ retriable: true, schemaId: V2 });
      expect(c.decodeLikeSync(value)).toBeUndefined();
      await expect(c.prefetch([V2])).rejects.toBeInstanceOf(RegistryUnavailableError);
      registry.fault = undefined;
      t += 1_000; // past the recheck pause a 404 imposes
      expect(await c.decodeLike(value)).toEqual(e);
    });

    it('a 200 whose body is not a usable Avro schema', async () => {
      const c = codec();
      registry.schemas.set(V2, { schema: '{"type": "record", "name": "Broken"' });
      expect(await errorOf(c.decodeLike(wire(V2, Buffer.from([2, 0x61]))))).toBeInstanceOf(
        RegistryUnavailableError,
      );
      registry.schemas.set(V2, { schema: '{"type": "nonsense"}' });
      expect(await errorOf(c.decodeLike(wire(V2, Buffer.from([2, 0x61]))))).toBeInstanceOf(
        RegistryUnavailableError,
      );
    });
  });

  describe('an unknown schema id', () => {
    const UNKNOWN = 999;
    const value = wire(UNKNOWN, likeType.toBuffer(event()));

    it('is poison only after the 404 persisted over the grace period on a healthy registry, then costs nothing', async () => {
      const c = codec({ attempts: 3, graceMs: 10_000, recheckMs: 1_000 });
      const answers: string[] = [];
      const attempt = async () => {
        const error = await errorOf(c.decodeLike(value));
        answers.push(
          error instanceof InvalidEventError
            ? 'poison'
            : error instanceof RegistryUnavailableError
              ? 'retry'
              : String(error),
        );
      };
      await attempt(); // 404 #1, health checked: own ids served
      expect(registry.calls).toEqual([UNKNOWN, OWN_LIKE, OWN_COUNT]);
      t += 500;
      await attempt(); // within recheckMs: no request at all
      expect(registry.calls).toHaveLength(3);
      t += 500;
      await attempt(); // 404 #2
      t += 8_000;
      await attempt(); // 404 #3: enough attempts, 9 000 ms after the first
      t += 999;
      await attempt(); // within recheckMs again
      expect(answers).toEqual(['retry', 'retry', 'retry', 'retry', 'retry']);
      expect(registry.calls.filter((id) => id === UNKNOWN)).toHaveLength(3);
      t += 1;
      await attempt(); // 404 #4, 10 000 ms after the first
      expect(answers.at(-1)).toBe('poison');
      const calls = registry.calls.length;
      for (let i = 0; i < 1000; i++) {
        expect(syncErrorOf(() => c.decodeLikeSync(value))).toMatchObject({
          reason: 'undecodable',
          message: expect.stringMatching(/unknown schema id 999/),
        });
        await attempt();
      }
      expect(registry.calls.length).toBe(calls); // the storm cost nothing
      await expect(c.prefetch([UNKNOWN])).resolves.toBeUndefined(); // decided: the sync path answers
    });

    it('stays retriable while the registry does not serve the codec own ids (failover, restore)', async () => {
      const c = codec({ attempts: 2, graceMs: 100, recheckMs: 0 });
      registry.fault = { error: new RegistryHttpError(404, 40403, 'GET', ''), only: [UNKNOWN, OWN_COUNT] };
      for (let i = 0; i < 50; i++, t += 1_000)
        expect(await errorOf(c.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError);
      registry.fault = { error: new RegistryHttpError(503, undefined, 'GET', ''), only: [OWN_LIKE] };
      for (let i = 0; i < 50; i++, t += 1_000)
        expect(await errorOf(c.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError);
      registry.fault = undefined;
      registry.schemas.set(OWN_LIKE, { schema: COUNT }); // a restored registry where our id means another schema
      await c.prefetch([]); // (no-op)
      const fresh = codec({ attempts: 2, graceMs: 100, recheckMs: 0 });
      await fresh.prefetch([OWN_LIKE]); // its baseline: what the id meant when it first saw it
      registry.schemas.set(OWN_LIKE, { schema: LIKE });
      for (let i = 0; i < 10; i++, t += 1_000)
        expect(await errorOf(fresh.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError);
      // healthy again: counted from here
      registry.schemas.set(OWN_LIKE, { schema: COUNT });
      expect(await errorOf(fresh.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError);
      t += 1_000;
      expect(await errorOf(fresh.decodeLike(value))).toBeInstanceOf(InvalidEventError);
    });

    it('prefetch runs the grace periods of a batch of unknown ids side by side, sharing health probes', async () => {
      const c = codec({ attempts: 2, graceMs: 10_000, recheckMs: 1_000 });
      const ids = Array.from({ length: 200 }, (_, i) => 10_000 + i);
      await expect(c.prefetch([...ids, OWN_LIKE])).rejects.toBeInstanceOf(RegistryUnavailableError);
      expect(ids.every((id) => registry.calls.filter((x) => x === id).length === 1)).toBe(true); // each asked, once
      const probes = registry.calls.filter((id) => id === OWN_COUNT).length;
      expect(probes).toBeLessThan(ids.length / 4);
      t += 10_000;
      await expect(c.prefetch(ids)).resolves.toBeUndefined(); // all proven unknown in the second round
      for (const id of ids) {
        expect(syncErrorOf(() => c.decodeLikeSync(wire(id, likeType.toBuffer(event()))))).toMatchObject({
          reason: 'undecodable',
        });
      }
      expect(c.decodeLikeSync(wire(OWN_LIKE, likeType.toBuffer(event())))).toMatchObject({ postId: 'p1' });
    });

    it('is not poison when it appears during the grace period', async () => {
      const c = codec({ attempts: 2, graceMs: 1_000, recheckMs: 0 });
      expect(await errorOf(c.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError);
      registry.schemas.set(UNKNOWN, { schema: LIKE });
      t += 5_000;
      await expect(c.decodeLike(value)).resolves.toMatchObject({ postId: 'p1' });
    });

    it('a codec that never ran init() proves health with its schemas looked up under the subjects', async () => {
      const c = codec({ attempts: 1, graceMs: 0, recheckMs: 0 });
      const lookup = jest
        .spyOn(registry, 'lookup')
        .mockRejectedValueOnce(new RegistryHttpError(404, 40401, 'POST', ''));
      expect(await errorOf(c.decodeLike(value))).toBeInstanceOf(RegistryUnavailableError); // cannot prove health yet
      expect(await errorOf(c.decodeLike(value))).toBeInstanceOf(InvalidEventError);
      expect(lookup).toHaveBeenCalledTimes(3); // the failed one, then both subjects once
    });
  });
});
