import { request } from 'node:http';
import type { HttpClient } from './http-client';

/** Where a load run reads counts back: the api's read endpoints, or (development) Redis directly. */
export interface CountSource {
  readonly name: string;
  /** counts of the given posts (an unknown post reads 0) */
  counts(postIds: readonly string[]): Promise<Map<string, number>>;
  /** calls onCount with the post's count as it changes until the returned stop() is called */
  watch(postId: string, onCount: (count: number) => void): Promise<() => void>;
}

const BATCH = 100;

/** Pulls {postId, count} pairs out of the batch read's answer, whichever envelope it uses. */
export function countsFromBody(body: unknown): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (v: unknown, keyHint?: string) => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item);
      return;
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.postId === 'string' && typeof o.count === 'number') {
        out.set(o.postId, o.count);
        return;
      }
      if (keyHint !== undefined && typeof o.count === 'number') {
        out.set(keyHint, o.count);
        return;
      }
      for (const [k, child] of Object.entries(o)) {
        if (typeof child === 'number' && k !== 'count' && k !== 'asOf') out.set(k, child);
        else visit(child, k);
      }
    }
  };
  visit(body);
  return out;
}

/**
 * The public read API: `GET /v1/likes?posts=` (≤ 100 per call) for counts, and the SSE stream
 * `GET /v1/posts/:postId/likes/stream` for changes, falling back to polling
 * `GET /v1/posts/:postId/likes` every pollMs when the stream is not served.
 */
export class ApiCountSource implements CountSource {
  readonly name = 'api';
  /** 'sse' or 'poll' once watch() decided */
  mode?: 'sse' | 'poll';

  constructor(
    private readonly client: HttpClient,
    private readonly base: URL,
    private readonly headers: Record<string, string>,
    private readonly options: { stream: boolean; pollMs: number },
  ) {}

  async counts(postIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < postIds.length; i += BATCH) {
      const ids = postIds.slice(i, i + BATCH);
      const path = `/v1/likes?posts=${ids.map(encodeURIComponent).join(',')}`;
      const a = await this.client.send('GET', path, this.headers);
      if (a.status !== 200) throw new Error(`GET ${path.slice(0, 60)}… answered ${a.status || a.error}: ${a.body.slice(0, 200)}`);
      const got = countsFromBody(JSON.parse(a.body));
      for (const id of ids) {
        const c = got.get(id);
        if (c === undefined) throw new Error(`GET /v1/likes did not answer post ${id}`);
        out.set(id, c);
      }
    }
    return out;
  }

  async watch(postId: string, onCount: (count: number) => void): Promise<() => void> {
    if (this.options.stream) {
      const stop = await this.stream(postId, onCount);
      if (stop) {
        this.mode = 'sse';
        return stop;
      }
    }
    this.mode = 'poll';
    return this.poll(postId, onCount);
  }

  /** Resolves with stop() once the stream answered 200, or undefined when it is not served. */
  private stream(postId: string, onCount: (count: number) => void): Promise<(() => void) | undefined> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.base.hostname.replace(/^\[|\]$/g, ''),
          port: Number(this.base.port || 80),
          path: `/v1/posts/${encodeURIComponent(postId)}/likes/stream`,
          headers: { ...this.headers, accept: 'text/event-stream' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            resolve(undefined);
            return;
          }
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
              const data = block
                .split(/\r?\n/)
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).trimStart())
                .join('\n');
              if (!data) continue; // heartbeat / comment
              try {
                const parsed = JSON.parse(data) as { count?: unknown };
                if (typeof parsed.count === 'number') onCount(parsed.count);
              } catch {
                // not a count event
              }
            }
          });
          res.on('error', () => undefined);
          resolve(() => req.destroy());
        },
      );
      req.on('error', (e) => reject(new Error(`count stream of ${postId}: ${e.message}`)));
      req.end();
    });
  }

  private poll(postId: string, onCount: (count: number) => void): () => void {
    const path = `/v1/posts/${encodeURIComponent(postId)}/likes`;
    return pollEvery(this.options.pollMs, onCount, async () => {
      const a = await this.client.send('GET', path, this.headers);
      if (a.status !== 200) return undefined;
      const c = (JSON.parse(a.body) as { count?: unknown }).count;
      return typeof c === 'number' ? c : undefined;
    });
  }
}

/** Calls probe every pollMs and passes what it read to onCount, until the returned stop() is called. */
function pollEvery(pollMs: number, onCount: (count: number) => void, probe: () => Promise<number | undefined>): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const c = await probe().catch(() => undefined);
      if (c !== undefined && !stopped) onCount(c);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}

/** A development source over any batch reader (e.g. libs/redis LikesReader.getMany), polled. */
export function pollingCountSource(
  name: string,
  getMany: (postIds: string[]) => Promise<Array<{ postId: string; count: number }>>,
  pollMs: number,
): CountSource {
  const counts = async (postIds: readonly string[]) => {
    const out = new Map<string, number>();
    for (let i = 0; i < postIds.length; i += BATCH)
      for (const s of await getMany(postIds.slice(i, i + BATCH))) out.set(s.postId, s.count);
    return out;
  };
  return {
    name,
    counts,
    async watch(postId, onCount) {
      return pollEvery(pollMs, onCount, async () => (await counts([postId])).get(postId));
    },
  };
}
