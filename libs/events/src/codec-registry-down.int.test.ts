import { createServer, type Server, type Socket } from 'node:net';
import { loadSettings } from '@doubletap/config';
import { EventCodec, InvalidEventError } from '@doubletap/events';
import { stackEnv } from '@doubletap/testing';

/**
 * Decoding a record whose schema id the codec has not seen asks the registry. A registry that is
 * down or hangs is not a property of the record: the error must not be InvalidEventError (which
 * sends the record to the dead-letter topic), and a hung registry must fail in bounded time.
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
    const error = await new EventCodec('http://127.0.0.1:1', topics, 200).decodeLike(record).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(InvalidEventError);
  });

  it('a hung registry times out (bounded) and is retriable, not an invalid record', async () => {
    const error = await new EventCodec(hungUrl, topics, 200).decodeLike(record).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toMatch(/Timeout \(200ms\)/);
  });

  it('an unknown schema id on a healthy registry is an invalid record', async () => {
    const settings = loadSettings(stackEnv());
    const error = await new EventCodec(settings.registry.url, topics).decodeLike(record).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEventError);
  });
});
