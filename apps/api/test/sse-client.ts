/** A minimal SSE reader over fetch for tests: collects `count` events and comments. */
export interface CountEvent {
  postId: string;
  count: number;
  display: string;
  asOf: string | null;
}

export interface SseClient {
  status: number;
  headers: Headers;
  events: CountEvent[];
  comments: string[];
  retry?: number;
  /** resolves with the first collected event (from index `from`) that satisfies `ok` */
  until(ok: (e: CountEvent) => boolean, timeoutMs?: number, from?: number): Promise<CountEvent>;
  close(): void;
  closed: Promise<void>;
}

export async function openSse(url: string): Promise<SseClient> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  const events: CountEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const client: SseClient = {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    async until(ok, timeoutMs = 20000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.slice(from).find(ok);
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(`no matching SSE event within ${timeoutMs}ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 100);
          waiters.add(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    close: () => controller.abort(),
    closed: Promise.resolve(),
  };
  if (res.status !== 200 || !res.body) return client;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  client.closed = (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let data: string | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('retry: ')) client.retry = Number(line.slice(7));
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (data !== undefined) events.push(JSON.parse(data) as CountEvent);
          for (const w of [...waiters]) w();
          waiters.clear();
        }
      }
    } catch {
      // aborted
    }
  })();
  return client;
}
