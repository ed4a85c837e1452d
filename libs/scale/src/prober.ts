import { likeKey, partitionForKey } from '@doubletap/likes';
import type { ServeProbe, Snapshot } from './timeline';

/** What the prober needs of a cluster: its running aggregators' base URLs, by member id. */
export interface ProbeTarget {
  aggregators(): Array<{ id: string; url: string }>;
}

/** One (postId, userId) whose home is each partition: what the interactive-query probes ask about. */
export function probeKeys(
  partitions: number,
  prefix = 'scaleprobe',
): Array<{ postId: string; userId: string }> {
  const out: Array<{ postId: string; userId: string } | undefined> = Array.from({ length: partitions });
  let left = partitions;
  for (let i = 0; left > 0; i++) {
    if (i > 100_000 * partitions) throw new Error(`no probe key found for every partition of ${partitions}`);
    const postId = `${prefix}`;
    const userId = `u${i}`;
    const p = partitionForKey(likeKey(postId, userId), partitions);
    if (!out[p]) {
      out[p] = { postId, userId };
      left--;
    }
  }
  return out as Array<{ postId: string; userId: string }>;
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

/**
 * Polls every running aggregator every `intervalMs`: what it owns (/internal/partitions: stored
 * offset and phase of each partition), and, for each partition it reports, one interactive query
 * (likedByViewer of a key homed there) — whether the owner serves. One poll at a time: a slow
 * answer delays the next poll rather than piling them up.
 */
export class Prober {
  readonly snapshots: Snapshot[] = [];
  readonly probes: ServeProbe[] = [];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly keys: Array<{ postId: string; userId: string }>;

  constructor(
    private readonly target: ProbeTarget,
    private readonly partitions: number,
    /** the run's clock: ms since its start */
    private readonly now: () => number,
    private readonly intervalMs = 250,
    private readonly timeoutMs = 2000,
  ) {
    this.keys = probeKeys(partitions);
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      const began = Date.now();
      await this.pollOnce();
      if (!this.stopped)
        this.timer = setTimeout(
          () => (this.running = loop()),
          Math.max(0, this.intervalMs - (Date.now() - began)),
        );
    };
    this.running = loop();
  }

  /** One poll (exposed for tests and for a last look after the run). */
  async pollOnce(): Promise<Snapshot> {
    const t = this.now();
    const snapshot: Snapshot = { t, byMember: {} };
    await Promise.all(
      this.target.aggregators().map(async (m) => {
        try {
          const body = (await getJson(`${m.url}/internal/partitions`, this.timeoutMs)) as {
            partitions: Array<{ partition: number; storedOffset: number | null; phase: string }>;
          };
          snapshot.byMember[m.id] = body.partitions.map((p) => ({
            partition: p.partition,
            storedOffset: p.storedOffset,
            phase: p.phase,
          }));
        } catch {
          return; // not answering now: it says nothing in this snapshot
        }
        await Promise.all(
          snapshot.byMember[m.id].map(async ({ partition }) => {
            const k = this.keys[partition];
            let ok = false;
            try {
              const res = await fetch(
                `${m.url}/internal/partitions/${partition}/likes/${k.postId}/${k.userId}`,
                { signal: AbortSignal.timeout(this.timeoutMs) },
              );
              ok = res.status === 200;
              await res.arrayBuffer();
            } catch {
              ok = false;
            }
            this.probes.push({ t: this.now(), partition, member: m.id, ok });
          }),
        );
      }),
    );
    this.snapshots.push(snapshot);
    return snapshot;
  }

  /** How finely the run was seen: snapshots taken, and the median and largest time between two. */
  resolution(): { snapshots: number; medianIntervalMs: number | null; maxIntervalMs: number | null } {
    const gaps = this.snapshots.slice(1).map((s, i) => s.t - this.snapshots[i].t);
    if (gaps.length === 0)
      return { snapshots: this.snapshots.length, medianIntervalMs: null, maxIntervalMs: null };
    const sorted = [...gaps].sort((a, b) => a - b);
    return {
      snapshots: this.snapshots.length,
      medianIntervalMs: sorted[Math.floor(sorted.length / 2)],
      maxIntervalMs: sorted[sorted.length - 1],
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
