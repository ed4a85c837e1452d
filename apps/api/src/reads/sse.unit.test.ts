import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { LiveSubscription } from '@doubletap/redis';
import { waitFor } from '@doubletap/testing';
import { pipeCounts } from './sse';

/** A socket-like sink whose writes complete only when the test says so (a slow client). */
function slowClient(highWaterMark = 64) {
  const chunks: string[] = [];
  const pending: Array<() => void> = [];
  let flowing = false;
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      if (flowing) done();
      else pending.push(done);
    },
  });
  return {
    res: sink as unknown as ServerResponse,
    sink,
    chunks,
    release() {
      flowing = true;
      for (const done of pending.splice(0)) done();
    },
    events: () =>
      chunks
        .join('')
        .split('\n\n')
        .filter((block) => block.includes('event: count'))
        .map(
          (block) =>
            JSON.parse(
              block
                .split('\n')
                .find((l) => l.startsWith('data: '))!
                .slice(6),
            ) as { count: number },
        ),
  };
}

describe('pipeCounts (SSE writer)', () => {
  it('sends the retry hint and the current count first, then changes', async () => {
    let closed = 0;
    const sub = new LiveSubscription('p1', () => closed++);
    const client = slowClient(1 << 20);
    client.release();
    sub.offer({ postId: 'p1', count: 7, asOf: 1000 });
    const end = pipeCounts(client.res, sub, { heartbeatMs: 60_000, retryMs: 2000 });
    await waitFor('first event', () => client.events().length === 1);
    expect(client.chunks[0]).toBe('retry: 2000\n\n');
    expect(client.chunks[1]).toBe(
      'id: 1000\nevent: count\ndata: {"postId":"p1","count":7,"display":"7","asOf":"1970-01-01T00:00:01.000Z"}\n\n',
    );
    sub.offer({ postId: 'p1', count: 12345, asOf: 2000 });
    await waitFor('second event', () => client.events().length === 2);
    expect(client.events()[1]).toMatchObject({ count: 12345, display: '12.3K' });
    end();
    expect(closed).toBe(1);
    expect(client.sink.writableEnded).toBe(true);
  });

  it('a slow client costs one pending count: it skips to the newest value', async () => {
    const sub = new LiveSubscription('p1', () => undefined);
    const client = slowClient(16); // the retry hint alone fills the buffer
    sub.offer({ postId: 'p1', count: 0, asOf: 1 });
    const end = pipeCounts(client.res, sub, { heartbeatMs: 60_000, retryMs: 2000 });
    await waitFor('writer blocked on drain', () => client.sink.writableNeedDrain);
    for (let i = 1; i <= 10_000; i++) sub.offer({ postId: 'p1', count: i, asOf: 1 + i });
    // nothing queued beyond the single pending slot while the socket is full
    expect(sub.pending).toEqual({ postId: 'p1', count: 10_000, asOf: 10_001 });
    expect(sub.superseded).toBeGreaterThanOrEqual(9_998);
    client.release();
    await waitFor('newest count delivered', () => client.events().at(-1)?.count === 10_000);
    expect(client.events().length).toBeLessThanOrEqual(3);
    end();
  });

  it('writes heartbeat comments while idle, and stops everything when the client goes away', async () => {
    let closed = 0;
    const sub = new LiveSubscription('p1', () => closed++);
    const client = slowClient(1 << 20);
    client.release();
    let ended = 0;
    pipeCounts(client.res, sub, { heartbeatMs: 10, retryMs: 2000, onEnd: () => ended++ });
    await waitFor('a heartbeat', () => client.chunks.includes(': heartbeat\n\n'));
    client.sink.destroy(); // the connection closed
    await waitFor('cleanup', () => closed === 1 && ended === 1);
    expect(sub.closed).toBe(true);
    const written = client.chunks.length;
    sub.offer({ postId: 'p1', count: 1, asOf: 5 });
    await new Promise((r) => setTimeout(r, 30));
    expect(client.chunks.length).toBe(written);
  });
});
