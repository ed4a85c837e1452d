import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, topicNames, topicSpecs, type Kafka } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import {
  aggregatorCaughtUp,
  freePort,
  freshNamesEnv,
  parseLogLine,
  spawnApp,
  stopApp,
  uniqueName,
  type AppName,
  type AppProcess,
  type PartitionStatusView,
} from '@doubletap/testing';

/** One app instance of the pipeline: its own port (and data dir for an aggregator), restartable. */
interface Instance {
  id: string;
  app: AppName;
  url: string;
  env: Record<string, string>;
  proc: AppProcess;
  /** every line of every incarnation (the last `keep`) */
  history: string[];
}

export interface ChaosPipelineOptions {
  /** the cluster's addresses (StackControl.env()) */
  stackEnv: Record<string, string>;
  name: string;
  partitions: number;
  aggregators: number;
  env?: Record<string, string>;
  log?: (line: string) => void;
}

/** The time an app gets to become ready after a start (a restart after kill -9 included). */
const READY_MS = 90_000;

/**
 * The whole pipeline (aggregators, projector, api) as processes on fresh topics, groups and key
 * prefix, on the cluster profile: each instance can be killed, paused, resumed and started again
 * on the same port and data dir, as a supervisor would.
 */
export class ChaosPipeline {
  private readonly instances = new Map<string, Instance>();
  private readonly dirs: string[] = [];

  private constructor(
    readonly env: Record<string, string>,
    readonly settings: Settings,
    readonly kafka: Kafka,
    private readonly log: (line: string) => void,
  ) {}

  static async start(o: ChaosPipelineOptions): Promise<ChaosPipeline> {
    const base = uniqueName(o.name);
    const env: Record<string, string> = {
      ...o.stackEnv,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      ...freshNamesEnv(base),
      TOPIC_PARTITIONS: String(o.partitions),
      RATE_LIMIT_PER_SEC: '0',
      ...o.env,
    };
    const settings = loadSettings(env);
    const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'chaos' });
    await ensureTopics(kafka, topicSpecs(settings.topics));
    const p = new ChaosPipeline(env, settings, kafka, o.log ?? (() => undefined));
    try {
      for (let i = 1; i <= o.aggregators; i++) await p.add('aggregator', `aggregator-${i}`);
      await p.add('projector', 'projector');
      await p.add('api', 'api');
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  get apiUrl(): string {
    return this.get('api').url;
  }

  ids(app?: AppName): string[] {
    return [...this.instances.values()].filter((i) => !app || i.app === app).map((i) => i.id);
  }

  url(id: string): string {
    return this.get(id).url;
  }

  pid(id: string): number {
    const pid = this.get(id).proc.child.pid;
    if (pid === undefined) throw new Error(`${id} has no pid`);
    return pid;
  }

  /** The lines `id` logged (every incarnation), parsed where they are JSON. */
  lines(id: string): Array<Record<string, unknown>> {
    return this.get(id).history.map(parseLogLine).filter((e): e is Record<string, unknown> => e !== undefined);
  }

  private get(id: string): Instance {
    const i = this.instances.get(id);
    if (!i) throw new Error(`no instance ${id} in this pipeline`);
    return i;
  }

  private async add(app: AppName, id: string): Promise<void> {
    const port = await freePort();
    const env: Record<string, string> = { ...this.env };
    if (app === 'api') env.API_PORT = String(port);
    if (app === 'projector') env.PROJECTOR_PORT = String(port);
    if (app === 'aggregator') {
      const dir = await mkdtemp(join(tmpdir(), 'dt-chaos-'));
      this.dirs.push(dir);
      env.AGGREGATOR_PORT = String(port);
      env.AGGREGATOR_DATA_DIR = dir;
    }
    const instance: Instance = { id, app, url: `http://127.0.0.1:${port}`, env, proc: undefined as unknown as AppProcess, history: [] };
    this.instances.set(id, instance);
    this.spawn(instance);
    await this.ready(id);
  }

  private spawn(i: Instance): void {
    i.proc = spawnApp(i.app, i.env, {
      keep: 5000,
      onLine: (line) => {
        i.history.push(line.slice(i.app.length + 3));
        if (i.history.length > 20_000) i.history.splice(0, 5_000);
        if (/"level":(50|60)/.test(line)) this.log(`${i.id} | ${line.slice(i.app.length + 3, i.app.length + 403)}`);
      },
    });
  }

  /** Waits until `id` answers /ready 200 (fails at once if it exits). */
  async ready(id: string, timeoutMs = READY_MS): Promise<void> {
    const i = this.get(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (i.proc.child.exitCode !== null || i.proc.child.signalCode !== null)
        throw new Error(`${id} exited before it was ready:\n${i.history.slice(-15).join('\n')}`);
      if ((await this.status(id, 'ready')) === 200) return;
      if (Date.now() > deadline)
        throw new Error(`${id} was not ready within ${timeoutMs} ms: /ready answers ${(await this.readyText(id)).slice(0, 600)}\n${i.history.slice(-15).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The HTTP status of /health or /ready of `id` (0 when it does not answer). */
  async status(id: string, what: 'health' | 'ready'): Promise<number> {
    try {
      return (await fetch(`${this.get(id).url}/${what}`, { signal: AbortSignal.timeout(2000) })).status;
    } catch {
      return 0;
    }
  }

  /** The body of /ready of `id` as text ('' when it does not answer). */
  async readyText(id: string): Promise<string> {
    try {
      return await (await fetch(`${this.get(id).url}/ready`, { signal: AbortSignal.timeout(2000) })).text();
    } catch {
      return '';
    }
  }

  async metrics(id: string): Promise<string> {
    return (await fetch(`${this.get(id).url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  }

  /** kill -9, and waits for the exit. */
  async kill(id: string): Promise<void> {
    const i = this.get(id);
    if (i.proc.child.exitCode !== null || i.proc.child.signalCode !== null) return;
    i.proc.child.kill('SIGKILL');
    await i.proc.exited;
  }

  /** SIGTERM (graceful), and waits for the exit. */
  async term(id: string): Promise<void> {
    await stopApp(this.get(id).proc, 30_000);
  }

  pause(id: string): void {
    process.kill(this.pid(id), 'SIGSTOP');
  }

  resume(id: string): void {
    process.kill(this.pid(id), 'SIGCONT');
  }

  /** Starts `id` again on its port and data dir; waits until ready unless told not to. */
  async restart(id: string, waitReady = true): Promise<void> {
    const i = this.get(id);
    if (i.proc.child.exitCode === null && i.proc.child.signalCode === null) throw new Error(`${id} is still running`);
    this.spawn(i);
    if (waitReady) await this.ready(id);
  }

  /** What the aggregators (`ids`, default all) say of the partitions they own; one that does not answer says nothing. */
  async partitionStatuses(ids = this.ids('aggregator')): Promise<PartitionStatusView[]> {
    const out: PartitionStatusView[] = [];
    for (const id of ids) {
      try {
        const res = await fetch(`${this.url(id)}/internal/partitions`, { signal: AbortSignal.timeout(3000) });
        out.push(...((await res.json()) as { partitions: PartitionStatusView[] }).partitions);
      } catch {
        // not answering now
      }
    }
    return out;
  }

  /** Every partition with records is applied to its end, live, nothing left to publish. */
  async caughtUp(): Promise<boolean> {
    return aggregatorCaughtUp(this.kafka, this.settings.topics.events, await this.partitionStatuses());
  }

  /** Writes every instance's log lines (all incarnations) to `<dir>/<id>.log`; returns the paths. */
  async saveLogs(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const out: string[] = [];
    for (const i of this.instances.values()) {
      const path = join(dir, `${i.id}.log`);
      await writeFile(path, `${i.history.join('\n')}\n`);
      out.push(path);
    }
    return out;
  }

  /** Stops every instance (resumed first if paused), deletes topics, keys and data dirs. */
  async stop(): Promise<void> {
    for (const i of this.instances.values()) {
      const c = i.proc?.child;
      if (c && c.exitCode === null && c.signalCode === null) {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGCONT');
        await stopApp(i.proc, 10_000);
      }
    }
    await deleteTopics(this.kafka, topicNames(this.settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: this.settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, this.settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}
