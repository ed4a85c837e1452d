import type { ServerResponse } from 'node:http';
import type { CountUpdate, LiveSubscription } from '@doubletap/redis';
import { toView } from './count-view';
import type { PostCount } from './reads.dto';

export interface SseOptions {
  /** a comment line this often keeps proxies and the browser from timing the stream out */
  heartbeatMs: number;
  /** the reconnection delay suggested to EventSource (the `retry:` field) */
  retryMs: number;
  /** called once when the stream ended (client gone, shutdown, error) */
  onEnd?: () => void;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx and similar buffer responses unless told not to
  'x-accel-buffering': 'no',
} as const;

export const countEvent = (view: PostCount, id: number | null): string =>
  `${id === null ? '' : `id: ${id}\n`}event: count\ndata: ${JSON.stringify(view)}\n\n`;

/**
 * Writes a live subscription to an SSE response until the client leaves or `end` is called:
 * the `retry:` hint, then one `count` event per update (the current count first), a comment as
 * heartbeat. Backpressure: while the socket is not drained nothing else is written, and the
 * subscription keeps only the newest pending count — a slow client skips to the latest value and
 * costs O(1) memory. Returns `end`, which is idempotent.
 */
export function pipeCounts(res: ServerResponse, sub: LiveSubscription, options: SseOptions): () => void {
  let ended = false;
  const write = (chunk: string): boolean => !ended && res.write(chunk);
  const heartbeat = setInterval(() => {
    // a backed-up socket needs no keep-alive, and must not grow
    if (!res.writableNeedDrain) write(': heartbeat\n\n');
  }, options.heartbeatMs);
  heartbeat.unref();
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    sub.close();
    res.off('close', end);
    res.off('error', end);
    if (!res.writableEnded && !res.destroyed) res.end();
    options.onEnd?.();
  };
  res.on('close', end);
  res.on('error', end);
  if (res.destroyed) {
    end();
    return end;
  }

  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });

  write(`retry: ${options.retryMs}\n\n`);

  void (async () => {
    let update: CountUpdate | null;
    while (!ended && (update = await sub.next()) !== null) {
      if (!write(countEvent(toView(update), update.asOf))) await drained();
    }
    end();
  })().catch(end);
  return end;
}
