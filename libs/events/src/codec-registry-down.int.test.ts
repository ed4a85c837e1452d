import { createServer, type Server, type Socket } from 'node:net';
import { loadSettings } from '@doubletap/config';
import { EventCodec, InvalidEventError, RegistryUnavailableError, valueSubject } from '@doubletap/events';
import { freePort, stackEnv, uniqueName } from '@doubletap/testing';

/**
 * Decoding a record whose schema id the codec has not seen asks the registry. A registry that is
 * down or hangs is not a property of the record: the error must be RegistryUnavailableError (retry),
 * never InvalidEventError (which sends the record to the dead-letter topic), and a hung registry
 * must fail in bounded time.
 */
describe('EventCodec when the registry cannot answer', () => {
  const topics = { events: 'unused-events', counts: 'unused-counts' };
  const record = Buffer.from([0, 0, 0, 0x7f, 0x11, 2, 3]); // magic 0, schema id 32529, body
  let hung: Server;
  let hungUrl: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    hung = createServer((socket) => sockets.add(socket)); // accepts connections, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const address = hung.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    hungUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => hung.close(resolve));
  });

  it('a refused connection is retriable, not an invalid record', async () => {
    // a port nobody listens on (not port 1: fetch refuses such "bad ports" before connecting)
    const closed = `http://127.0.0.1:${await freePort()}`;
    const error = await new EventCodec(closed, topics, 200).decodeLike(record).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect(error).toMatchObject({ retriable: true, schemaId: 32529 });
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('a hung registry times out (bounded) and is retriable, not an invalid record', async () => {
    const error = await new EventCodec(hungUrl, topics, 200).decodeLike(record).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect((error as Error).cause).toMatchObject({ name: 'TimeoutError' });
  });

  it('an unknown schema id on a healthy registry is retriable at first, and an invalid record once the 404 persisted', async () => {
    const settings = loadSettings(stackEnv());
    const fresh = { events: uniqueName('down-events'), counts: uniqueName('down-counts') };
    const codec = new EventCodec(settings.registry.url, fresh, {
      unknownSchemaIds: { attempts: 2, graceMs: 200, recheckMs: 0 },
    });
    try {
      await codec.init(); // its own ids: what proves the registry healthy
      const unknown = Buffer.from([0, 0x7f, 0x7f, 0x7f, 0x11, 2, 3]); // schema id 2139062033
      expect(await codec.decodeLike(unknown).catch((e: unknown) => e)).toBeInstanceOf(
        RegistryUnavailableError,
      );
      let error: unknown;
      for (let i = 0; i < 100 && !(error instanceof InvalidEventError); i++) {
        await new Promise((r) => setTimeout(r, 50));
        error = await codec.decodeLike(unknown).catch((e: unknown) => e);
      }
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({
        reason: 'undecodable',
        message: expect.stringContaining('unknown schema id 2139062033'),
      });
    } finally {
      for (const s of [valueSubject(fresh.events), valueSubject(fresh.counts)]) {
        await fetch(`${settings.registry.url}/subjects/${s}`, { method: 'DELETE' });
        await fetch(`${settings.registry.url}/subjects/${s}?permanent=true`, { method: 'DELETE' });
      }
    }
  });
});
