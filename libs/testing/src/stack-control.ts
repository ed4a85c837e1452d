import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type Kafka, partitionLeaders } from '@doubletap/kafka';
import { REPO_ROOT } from './stack';

/** Parts of the single-node profile and of the cluster profile (`--brokers 3`). */
export type SinglePart = 'kafka' | 'registry' | 'redis';
export type ClusterPart = 'broker-1' | 'broker-2' | 'broker-3' | 'registry' | 'redis';
export type StackPart = SinglePart | ClusterPart;

export interface StackProfile {
  brokers: 1 | 3;
}

export interface PartStatus {
  address: string;
  /** paused = stopped by SIGSTOP; unhealthy = starting, or its port is held by something else */
  health: 'healthy' | 'paused' | 'unhealthy' | 'down';
  pid: number | null;
  /** brokers of the cluster profile */
  nodeId?: number;
  controller?: string;
}

export type Fault = 'kill' | 'term' | 'pause' | 'resume' | 'start';

/** Time for one stack.sh call: `up` may fetch and format on a first run; a restart waits for health. */
const TIMEOUT_MS = { up: 600_000, fault: 240_000, other: 60_000 };

/**
 * The local stack's script (scripts/stack/stack.sh) for tests and fault scenarios: bring a profile
 * up, read its addresses, and kill, stop, pause, resume or restart one of its parts. Every signal
 * goes through the script, which finds the process by its pid file (never by name). The stack dir
 * is the environment's DOUBLETAP_STACK_DIR, as for every other stack.sh call.
 */
export class StackControl {
  private readonly script = join(REPO_ROOT, 'scripts', 'stack', 'stack.sh');

  constructor(readonly profile: StackProfile = { brokers: 1 }) {}

  /** Starts what is missing and waits until every part is healthy (idempotent). */
  async up(): Promise<void> {
    await this.run(['up'], TIMEOUT_MS.up);
  }

  /** KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL (and TOPIC_REPLICATION_FACTOR=3 for the cluster). */
  async env(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const line of (await this.run(['env'])).split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  /** Every part with its health and pid (whether or not all are healthy). */
  async status(): Promise<Record<string, PartStatus>> {
    // stack.sh status exits 1 when a part is not healthy: that is an answer here, not an error
    const text = await this.run(['status', '--json'], TIMEOUT_MS.other, true);
    return JSON.parse(text) as Record<string, PartStatus>;
  }

  kill(part: StackPart): Promise<void> {
    return this.fault('kill', part);
  }

  /** SIGTERM, and waits for the exit. */
  term(part: StackPart): Promise<void> {
    return this.fault('term', part);
  }

  pause(part: StackPart): Promise<void> {
    return this.fault('pause', part);
  }

  resume(part: StackPart): Promise<void> {
    return this.fault('resume', part);
  }

  /** Starts the part again (a broker on its data, Redis empty) and waits until it is healthy. */
  start(part: StackPart): Promise<void> {
    return this.fault('start', part);
  }

  async fault(action: Fault, part: StackPart): Promise<void> {
    await this.run(['fault', action, part], TIMEOUT_MS.fault);
  }

  /** The part that runs Kafka node `nodeId`: `broker-<id>` in the cluster, `kafka` on the single node. */
  brokerPart(nodeId: number): StackPart {
    if (this.profile.brokers === 1) return 'kafka';
    if (nodeId < 1 || nodeId > 3)
      throw new Error(`no broker with node id ${nodeId} in the cluster profile (1..3)`);
    return `broker-${nodeId}` as ClusterPart;
  }

  /** The node id leading `topic`/`partition` now and the part that runs it (fails while it has no leader). */
  async leaderOf(
    kafka: Kafka,
    topic: string,
    partition: number,
  ): Promise<{ nodeId: number; part: StackPart }> {
    const p = (await partitionLeaders(kafka, topic)).find((x) => x.partition === partition);
    if (!p) throw new Error(`${topic} has no partition ${partition}`);
    if (p.leader < 0) throw new Error(`${topic}/${partition} has no leader now`);
    return { nodeId: p.leader, part: this.brokerPart(p.leader) };
  }

  private run(args: string[], timeout = TIMEOUT_MS.other, stdoutEvenOnFailure = false): Promise<string> {
    const argv = [this.script, ...args, '--brokers', String(this.profile.brokers)];
    return new Promise((resolve, reject) => {
      execFile(
        'bash',
        argv,
        { encoding: 'utf8', timeout, maxBuffer: 4 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error || (stdoutEvenOnFailure && stdout.trim().length > 0)) return resolve(stdout);
          const why = stderr.trim().split('\n').slice(-5).join('\n') || error.message;
          reject(new Error(`stack.sh ${args.join(' ')} --brokers ${this.profile.brokers} failed: ${why}`));
        },
      );
    });
  }
}
