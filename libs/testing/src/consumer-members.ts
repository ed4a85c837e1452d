import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createIdempotentProducer, type Kafka, type KafkaConsumerClient } from '@doubletap/kafka';
import { REPO_ROOT } from './stack';

/** One line a member process printed (see member.ts). */
export interface MemberEvent {
  t: number;
  ev: 'assign-start' | 'assigned' | 'ready' | 'batch' | 'failed' | 'health' | 'stopped' | 'error';
  p?: number;
  from?: number;
  to?: number;
  n?: number;
  partitions?: number[];
  added?: number[];
  revoked?: number[];
  error?: string;
  /** `health`: why the member would not be ready (consumer-health.ts); absent = ready */
  notReady?: string;
}

export interface MemberOptions {
  client: KafkaConsumerClient;
  brokers: string[];
  group: string;
  topic: string;
  revokeDelayMs?: number;
  batchDelayMs?: number;
  sessionTimeoutMs?: number;
  /** the handler throws on its first n batches */
  failBatches?: number;
  /** the consumer's minBatchIntervalMs */
  minBatchIntervalMs?: number;
}

/** A consumer-group member as a child process of the built code (dist/libs/testing/src/consumer-member.js). */
export class MemberProcess {
  readonly events: MemberEvent[] = [];
  readonly child: ChildProcess;
  readonly spawnedAt = Date.now();
  readonly exited: Promise<void>;
  private readonly output: string[] = [];

  constructor(readonly options: MemberOptions) {
    const member = join(REPO_ROOT, 'dist', 'libs', 'testing', 'src', 'consumer-member.js');
    this.child = spawn(process.execPath, ['-r', join(REPO_ROOT, 'scripts', 'paths.js'), member], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        MEMBER_CLIENT: options.client,
        KAFKA_BROKERS: options.brokers.join(','),
        MEMBER_GROUP: options.group,
        MEMBER_TOPIC: options.topic,
        MEMBER_REVOKE_DELAY_MS: String(options.revokeDelayMs ?? 0),
        MEMBER_BATCH_DELAY_MS: String(options.batchDelayMs ?? 0),
        MEMBER_SESSION_MS: String(options.sessionTimeoutMs ?? 6000),
        MEMBER_FAIL_BATCHES: String(options.failBatches ?? 0),
        MEMBER_MIN_BATCH_INTERVAL_MS: String(options.minBatchIntervalMs ?? 0),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as MemberEvent);
      } catch {
        this.keep(line);
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.keep(line));
  }

  private keep(line: string): void {
    this.output.push(line);
    if (this.output.length > 50) this.output.shift();
  }

  /** what the process printed that was not an event (for failure messages) */
  get log(): string {
    return this.output.join('\n');
  }

  batches(partition?: number): MemberEvent[] {
    return this.events.filter((e) => e.ev === 'batch' && (partition === undefined || e.p === partition));
  }

  /** the partitions the member owns after the last applied assignment */
  get owned(): number[] {
    const last = [...this.events].reverse().find((e) => e.ev === 'assigned');
    return last?.partitions ?? [];
  }

  async until(what: string, pred: () => boolean, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const failed = this.events.find((e) => e.ev === 'error');
      if (failed) throw new Error(`member failed: ${failed.error}\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM: commit, leave the group. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }

  /** SIGKILL: a crash; the group notices when the session expires. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Offsets each member handled per partition, in order (duplicates kept). */
export function offsetsSeen(members: MemberProcess[], partition: number): number[] {
  const out: number[] = [];
  for (const m of members)
    for (const b of m.batches(partition)) for (let o = b.from!; o <= b.to!; o++) out.push(o);
  return out.sort((a, b) => a - b);
}

/** The longest time without a batch on any of `partitions` within [from, to] (ms). */
export function longestGap(member: MemberProcess, partitions: number[], from: number, to: number): number {
  let worst = 0;
  for (const p of partitions) {
    const times = member
      .batches(p)
      .map((b) => b.t)
      .filter((t) => t >= from && t <= to);
    let prev = from;
    for (const t of [...times, to]) {
      worst = Math.max(worst, t - prev);
      prev = t;
    }
  }
  return worst;
}

/** Writes `perTick` records to every partition every `everyMs` until stopped; returns how many per partition. */
export function steadyProducer(
  kafka: Kafka,
  topic: string,
  partitions: number,
  perTick = 5,
  everyMs = 20,
): { stop(): Promise<number[]> } {
  const producer = createIdempotentProducer(kafka);
  const sent = new Array<number>(partitions).fill(0);
  let running = true;
  const loop = (async () => {
    await producer.connect();
    while (running) {
      const messages = [];
      for (let p = 0; p < partitions; p++)
        for (let i = 0; i < perTick; i++)
          messages.push({ partition: p, value: Buffer.from(String(sent[p] + i)) });
      await producer.send({ topic, acks: -1, messages });
      for (let p = 0; p < partitions; p++) sent[p] += perTick;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    await producer.disconnect();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return sent;
    },
  };
}
