import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Type } from 'avsc';
import { loadSettings } from '@doubletap/config';
import {
  EventCodec,
  InvalidEventError,
  readSchema,
  RegistryUnavailableError,
  uuidv7,
  valueSubject,
  type LikeEvent,
} from '@doubletap/events';
import { stackEnv, uniqueName } from '@doubletap/testing';

/** What the proxy answers instead of the registry. */
type Answer = { status: number } | 'reset' | 'hang';

/**
 * A fault-injecting HTTP proxy in front of the real registry: it forwards every request, unless a
 * fault is set, which it applies to every request or only to `GET /schemas/ids/<id>` of some ids.
 */
class FaultyRegistryProxy {
  fault?: { answer: Answer; ids?: number[] };
  /** paths of the requests it saw, and how many it faulted */
  readonly seen: string[] = [];
  faulted = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly target: URL;

  constructor(registryUrl: string) {
    this.target = new URL(registryUrl);
  }

  /** the registry URL through the proxy */
  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return `http://127.0.0.1:${address.port}${this.target.pathname}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** requests for one schema id */
  lookups(id: number): number {
    return this.seen.filter((p) => p.endsWith(`/schemas/ids/${id}`)).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.seen.push(path);
    const id = /\/schemas\/ids\/(\d+)$/.exec(path)?.[1];
    const fault = this.fault;
    if (fault && (!fault.ids || (id !== undefined && fault.ids.includes(Number(id))))) {
      this.faulted++;
      if (fault.answer === 'reset') req.socket.destroy();
      else if (fault.answer === 'hang')
        return; // never answers; stop() destroys the socket
      else {
        const body =
          fault.answer.status === 404
            ? { error_code: 40403, message: `Schema ${id} not found.` }
            : { error_code: fault.answer.status, message: 'injected by the test proxy' };
        res.writeHead(fault.answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      }
      return;
    }
    const upstream = request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  }
}

const errorOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('EventCodec behind a faulty registry (fault-injecting proxy in front of the real registry)', () => {
  const settings = loadSettings(stackEnv());
  const topics = { events: uniqueName('faults-events'), counts: uniqueName('faults-counts') };
  const proxy = new FaultyRegistryProxy(settings.registry.url);
  let proxyUrl: string;
  /** a LikeEvent schema v2 (an optional field added), registered under the subject: an id no fresh codec has cached */
  let v2Id: number;
  const event: LikeEvent = {
    eventId: uuidv7(),
    postId: 'post-1',
    userId: 'user-1',
    action: 'LIKE',
    occurredAt: Date.now(),
  };
  let record: Buffer;

  beforeAll(async () => {
    proxyUrl = await proxy.start();
    await new EventCodec(settings.registry.url, topics).init();
    const v1 = JSON.parse(readSchema('like-event.avsc')) as { fields: object[] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'client', type: ['null', 'string'], default: null }] };
    const res = await fetch(`${settings.registry.url}/subjects/${valueSubject(topics.events)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(v2) }),
    });
    expect(res.status).toBe(200);
    v2Id = ((await res.json()) as { id: number }).id;
    const header = Buffer.alloc(5);
    header.writeInt32BE(v2Id, 1);
    record = Buffer.concat([
      header,
      Type.forSchema(v2 as Parameters<typeof Type.forSchema>[0]).toBuffer({ ...event, client: 'web' }),
    ]);
  });

  afterAll(async () => {
    await proxy.stop();
    for (const s of [valueSubject(topics.events), valueSubject(topics.counts)]) {
      await fetch(`${settings.registry.url}/subjects/${s}`, { method: 'DELETE' });
      await fetch(`${settings.registry.url}/subjects/${s}?permanent=true`, { method: 'DELETE' });
    }
  });

  afterEach(() => {
    proxy.fault = undefined;
  });

  /** a codec through the proxy, its own ids registered while the proxy forwards */
  const freshCodec = async (unknownSchemaIds?: { attempts: number; graceMs: number; recheckMs: number }) => {
    const codec = new EventCodec(proxyUrl, topics, { requestTimeoutMs: 500, unknownSchemaIds });
    await codec.init();
    return codec;
  };

  const faults: Array<[string, { answer: Answer; ids?: () => number[] }]> = [
    ...[401, 403, 408, 429, 500, 503].map((status): [string, { answer: Answer }] => [
      `HTTP ${status}`,
      { answer: { status } },
    ]),
    ['a reset socket', { answer: 'reset' }],
    ['a hung registry (request timeout)', { answer: 'hang' }],
    ['a 404 for a known schema id (failover, restore)', { answer: { status: 404 }, ids: () => [v2Id] }],
  ];

  it.each(faults)(
    '%s: RegistryUnavailableError, never InvalidEventError; the record decodes once it heals',
    async (_what, fault) => {
      const codec = await freshCodec();
      proxy.fault = { answer: fault.answer, ids: fault.ids?.() };
      const faultedBefore = proxy.faulted;
      const error = await errorOf(codec.decodeLike(record));
      expect(proxy.faulted).toBeGreaterThan(faultedBefore); // the fault was met, not skipped
      expect(error).toBeInstanceOf(RegistryUnavailableError);
      expect(error).not.toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({ retriable: true, schemaId: v2Id });
      expect(codec.decodeLikeSync(record)).toBeUndefined();
      await expect(codec.prefetch([v2Id])).rejects.toBeInstanceOf(RegistryUnavailableError);

      proxy.fault = undefined;
      // a 404 makes the codec wait recheckMs (1 s by default) before it asks again
      const healed = await retryUntilDecoded(() => codec.decodeLike(record));
      expect(healed).toEqual(event);
      expect(codec.decodeLikeSync(record)).toEqual(event);
    },
  );

  it('a truly unknown schema id is poison only after the grace period, while the registry serves the codec own ids', async () => {
    const policy = { attempts: 3, graceMs: 1_500, recheckMs: 100 };
    const codec = await freshCodec(policy);
    const { likeEvent, countChanged } = codec.schemaIds;
    const unknownId = 2_000_000_000 + Math.floor(Math.random() * 100_000_000); // far above any id the registry hands out
    const header = Buffer.alloc(5);
    header.writeInt32BE(unknownId, 1);
    const poison = Buffer.concat([header, record.subarray(5)]);

    const ownLookupsBefore = proxy.lookups(likeEvent!) + proxy.lookups(countChanged!);
    const started = Date.now();
    const answers: unknown[] = [];
    let decidedAfterMs = -1;
    for (;;) {
      const error = await errorOf(codec.decodeLike(poison));
      answers.push(error);
      if (!(error instanceof RegistryUnavailableError)) {
        decidedAfterMs = Date.now() - started;
        break;
      }
      if (Date.now() - started > 30_000) break; // (guard: the assertions below then fail)
      await new Promise((r) => setTimeout(r, 50));
    }
    const last = answers.at(-1);
    expect(last).toBeInstanceOf(InvalidEventError);
    expect(last).toMatchObject({
      reason: 'undecodable',
      message: expect.stringContaining(`unknown schema id ${unknownId}`),
    });
    expect(answers.slice(0, -1).every((a) => a instanceof RegistryUnavailableError)).toBe(true);
    // never before the grace period: enough 404s, spanning graceMs, each with the registry proven healthy
    expect(decidedAfterMs).toBeGreaterThanOrEqual(policy.graceMs);
    expect(proxy.lookups(unknownId)).toBeGreaterThanOrEqual(policy.attempts);
    expect(
      proxy.lookups(likeEvent!) + proxy.lookups(countChanged!) - ownLookupsBefore,
    ).toBeGreaterThanOrEqual(2 * policy.attempts);

    // decided once: a storm of records with the id costs no request
    const lookups = proxy.seen.length;
    for (let i = 0; i < 500; i++) {
      expect(() => codec.decodeLikeSync(poison)).toThrow(InvalidEventError);
      await expect(codec.decodeLike(poison)).rejects.toBeInstanceOf(InvalidEventError);
    }
    expect(proxy.seen.length).toBe(lookups);
  });

  it('a registry that lost everything (404 for every id, its own too) is never proof: retriable past the grace period', async () => {
    const policy = { attempts: 2, graceMs: 300, recheckMs: 0 };
    const codec = await freshCodec(policy);
    proxy.fault = { answer: { status: 404 } };
    const started = Date.now();
    let attempts = 0;
    while (attempts < 4 * policy.attempts || Date.now() - started < 3 * policy.graceMs) {
      const error = await errorOf(codec.decodeLike(record));
      expect(error).toBeInstanceOf(RegistryUnavailableError);
      attempts++;
      await new Promise((r) => setTimeout(r, 50));
    }
    proxy.fault = undefined;
    expect(await codec.decodeLike(record)).toEqual(event);
  });
});

/** Decodes until the codec stops answering RegistryUnavailableError (it waits recheckMs after a 404). */
async function retryUntilDecoded<T>(decode: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await decode();
    } catch (e) {
      if (!(e instanceof RegistryUnavailableError) || i >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
