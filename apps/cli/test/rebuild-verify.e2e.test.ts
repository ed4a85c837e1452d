import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { createKafka, createOffsetsReader, deleteTopics, ensureTopics, topicNames, topicOffsets, topicSpecs } from '@doubletap/kafka';
import {
  createRedis,
  deleteKeysWithPrefix,
  generationKey,
  LikesReader,
  ReadSideGenerations,
  redisReady,
  type Redis,
} from '@doubletap/redis';
import { PartitionStore } from '@doubletap/store';
import { freshNamesEnv, redisTargets, REPO_ROOT, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import { groundTruth, produceActions, randomActions, runCli, startApp, type AppProc, type CliRun } from './cli-fixtures';

const PARTITIONS = 4;

/** One JSON document on stdout, and nothing else. */
const doc = <T>(run: CliRun): T => JSON.parse(run.stdout) as T;
const sorted = (m: ReadonlyMap<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));

describe.each(redisTargets())('doubletap rebuild / verify / topics / schemas (built CLI, aggregator and projector processes, local stack, $name Redis)', (target) => {
  const base = loadSettings(stackEnv());
  const kafka = createKafka({ brokers: base.kafka.brokers, clientId: 'cli-e2e-test' });
  const name = uniqueName('cli');
  let dataDir: string;
  let env: Record<string, string>;
  let settings: Settings;
  let redis: Redis;
  let reader: LikesReader;
  let aggregator: AppProc | undefined;
  let projector: AppProc | undefined;
  const actions = randomActions(4000, 42, 60, 120);
  const truth = groundTruth(actions);
  const posts = [...truth.keys()].sort();

  const served = async () => new Map((await reader.getMany(posts)).map((c) => [c.postId, c.count]));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dt-cli-'));
    env = stackEnv({
      ...freshNamesEnv(name),
      REDIS_URL: target.url,
      TOPIC_PARTITIONS: String(PARTITIONS),
      AGGREGATOR_DATA_DIR: join(dataDir, 'aggregator'),
      AGGREGATOR_PORT: '0',
      PROJECTOR_PORT: '0',
    });
    settings = loadSettings(env);
    redis = createRedis({ url: settings.redis.url, name: 'cli-e2e', offlineQueue: true });
    await redisReady(redis);
    reader = new LikesReader(redis, settings.redis.keyPrefix);
    await ensureTopics(kafka, topicSpecs(settings.topics));
    const codec = new EventCodec(settings.registry.url, settings.topics);
    await codec.init();
    await produceActions(kafka, codec, settings.topics.events, actions);
    aggregator = startApp('aggregator', env, 'aggregator started');
    projector = startApp('projector', env, 'projector started');
    await Promise.all([aggregator.ready, projector.ready]);
    // quiescent state: every total served equals the truth
    await waitFor('Redis totals = truth', async () => JSON.stringify(sorted(await served())) === JSON.stringify(sorted(truth)), 60000, 250);
  });

  afterAll(async () => {
    await Promise.all([aggregator?.stop(), projector?.stop()]);
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit();
    await deleteTopics(kafka, topicNames(settings.topics));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every command answers --help; topics and schemas --json print one parseable document', async () => {
    for (const cmd of [[], ['rebuild'], ['verify'], ['topics'], ['topics', 'setup'], ['schemas'], ['schemas', 'setup'], ['setup'], ['lag'], ['token'], ['stack']]) {
      const r = spawnSync(process.execPath, ['bin/doubletap.js', ...cmd, '--help'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
      expect({ cmd, code: r.status }).toEqual({ cmd, code: 0 });
      expect(r.stdout).toContain(`Usage: doubletap ${cmd.join(' ')}`.trim());
    }
    const topics = doc<{ topics: Array<{ topic: string; partitions: unknown[]; configs: Record<string, { value: string }> }>; missing: string[] }>(
      await runCli(['topics', '--json'], env),
    );
    expect(topics.missing).toEqual([]);
    const counts = topics.topics.find((t) => t.topic === settings.topics.counts)!;
    expect(counts.partitions).toHaveLength(PARTITIONS);
    expect(counts.configs['cleanup.policy'].value).toBe('compact');
    const schemas = doc<{ subjects: Array<{ subject: string; compatibility: string; versions: Array<{ id: number; fields: string[] }> }> }>(
      await runCli(['schemas', '--json'], env),
    );
    expect(schemas.subjects.map((s) => s.subject)).toEqual([`${settings.topics.events}-value`, `${settings.topics.counts}-value`]);
    expect(schemas.subjects[0].compatibility).toBe('FULL_TRANSITIVE');
    expect(schemas.subjects[1].versions[0].fields).toEqual(['postId', 'partition', 'count', 'sourceOffset']);
  });

  it('rejects options that cannot be exact, with one line on stderr', async () => {
    const fromTime = await runCli(['rebuild', '--target', 'state', '--from', '2026-01-01T00:00:00Z'], env);
    expect(fromTime.code).toBe(1);
    expect(fromTime.stderr.trim().split('\n')).toHaveLength(1);
    expect(fromTime.stderr).toMatch(/state rebuild must replay from the earliest offset/);
    const parts = await runCli(['rebuild', '--target', 'read-side', '--partitions', '1'], env);
    expect(parts.code).toBe(1);
    expect(parts.stderr).toMatch(/always built from every partition/);
    const target = await runCli(['rebuild', '--target', 'redis'], env);
    expect(target.code).toBe(1);
    expect(target.stderr).toMatch(/--target redis: expected read-side, state or all/);
  });

  it('refuses a state rebuild while an aggregator of the group is running (dry run says so too)', async () => {
    const run = await runCli(['rebuild', '--target', 'state', '--json'], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(new RegExp(`refusing to rebuild the aggregator state: consumer group ${settings.aggregator.groupId} has 1 live member`));
    const dry = await runCli(['rebuild', '--target', 'state', '--dry-run', '--json'], env);
    expect(dry.code).toBe(3);
    expect(doc<{ plans: Array<{ refused: string }> }>(dry).plans[0].refused).toMatch(/live member/);
    expect(readdirSync(settings.aggregator.dataDir).sort()).toEqual(['p-0', 'p-1', 'p-2', 'p-3']); // nothing moved
  });

  it('read-side rebuild: a new generation, an atomic switch; readers hammering meanwhile never see a partial total', async () => {
    const gens = new ReadSideGenerations(redis, settings.redis.keyPrefix);
    const from = await gens.current();
    const wrong: Array<{ postId: string; count: number; expected: number }> = [];
    let reads = 0;
    let done = false;
    const hammer = (async () => {
      while (!done) {
        for (const c of await reader.getMany(posts)) {
          if (c.count !== truth.get(c.postId)) wrong.push({ postId: c.postId, count: c.count, expected: truth.get(c.postId)! });
        }
        const one = posts[reads % posts.length];
        const single = await reader.getCount(one);
        if (single.count !== truth.get(one)) wrong.push({ postId: one, count: single.count, expected: truth.get(one)! });
        reads++;
      }
    })();
    const run = await runCli(['rebuild', '--target', 'read-side', '--grace', '0.2', '--json'], env).finally(() => (done = true));
    await hammer;
    expect(run.stderr).not.toMatch(/doubletap:/);
    expect(run.code).toBe(0);
    const result = doc<{ results: Array<{ from: { generation: number }; to: { generation: number; keys: number }; records: number; oldKeysDeleted: number }> }>(run).results[0];
    expect(result.from.generation).toBe(from);
    expect(result.to.generation).toBe(from + 1);
    expect(result.to.keys).toBe(posts.length);
    expect(result.oldKeysDeleted).toBe(posts.length);
    expect(reads).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    expect(await gens.current()).toBe(from + 1);
    expect(await gens.building()).toBeUndefined();
    expect(await gens.countKeys(from)).toBe(0);
    expect(sorted(await served())).toEqual(sorted(truth));
  });

  it('verify: exit 0 when every total matches; exactly the corrupted posts, exit 1, when some do not; a rebuild repairs them', async () => {
    const ok = await runCli(['verify', '--json'], env);
    expect(ok.code).toBe(0);
    const okDoc = doc<{ ok: boolean; posts: number; events: number; mismatches: unknown[] }>(ok);
    expect(okDoc).toMatchObject({ ok: true, posts: posts.length, events: actions.length, mismatches: [] });

    const gen = await new ReadSideGenerations(redis, settings.redis.keyPrefix).current();
    const corrupted = [posts[3], posts[17]];
    await redis.hset(generationKey(settings.redis.keyPrefix, gen, corrupted[0]), 'total', String(truth.get(corrupted[0])! + 5));
    await redis.hset(generationKey(settings.redis.keyPrefix, gen, corrupted[1]), 'total', '0');
    const bad = await runCli(['verify', '--json'], env);
    expect(bad.code).toBe(1);
    expect(doc<{ ok: boolean; mismatches: unknown[] }>(bad)).toMatchObject({
      ok: false,
      mismatches: corrupted.sort().map((p) => ({
        postId: p,
        expected: truth.get(p),
        actual: p === corrupted[0] ? truth.get(p)! + 5 : 0,
      })),
    });
    const human = await runCli(['verify', '--posts', `${corrupted[0]},${posts[0]}`], env);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^MISMATCH: 2 posts recounted/);
    expect(human.stdout).toContain(corrupted[0]);
    expect(human.stdout).not.toContain(`  ${posts[0]} `);

    const rebuilt = await runCli(['rebuild', '--target', 'read-side', '--grace', '0', '--json'], env);
    expect(rebuilt.code).toBe(0);
    expect((await runCli(['verify', '--json'], env)).code).toBe(0);
  });

  it('verify --api-url asks the read API in batches of at most 100 posts and diffs its answers', async () => {
    const requests: number[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const asked = (url.searchParams.get('posts') ?? '').split(',');
      requests.push(asked.length);
      void reader.getMany(asked).then((counts) => {
        // the API serves one post wrong
        const body = { posts: counts.map((c) => ({ postId: c.postId, count: c.postId === posts[5] ? c.count + 1 : c.count })) };
        res.writeHead(url.pathname === '/v1/likes' ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const asked = [...posts, ...Array.from({ length: 90 }, (_, i) => `never-${i}`)];
      const run = await runCli(['verify', '--json', '--posts', asked.join(','), '--api-url', `http://127.0.0.1:${(server.address() as AddressInfo).port}`], env);
      expect(run.code).toBe(1);
      expect(doc<{ mismatches: unknown[]; posts: number }>(run)).toMatchObject({
        posts: asked.length,
        mismatches: [{ postId: posts[5], expected: truth.get(posts[5]), actual: truth.get(posts[5])! + 1 }],
      });
      expect(requests).toEqual([100, asked.length - 100]);
    } finally {
      server.close();
    }
  });

  it('state rebuild (after the aggregator stopped): dry run changes nothing; then stores, likes.counts and Redis equal the truth; a marked partition resumes', async () => {
    await aggregator!.stop();
    const offsets = createOffsetsReader(kafka);
    await offsets.connect();
    await waitFor('no aggregator members', async () => (await offsets.groupOffsets(settings.aggregator.groupId, settings.topics.events)).members === 0);
    await offsets.close();

    const countsEnd = async () => (await topicOffsets(kafka, settings.topics.counts)).map((o) => o.high);
    const before = { files: readdirSync(settings.aggregator.dataDir).sort(), counts: await countsEnd() };
    const dry = await runCli(['rebuild', '--target', 'all', '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    const plans = doc<{ plans: Array<{ target: string; records: number; read: Array<{ mode?: string }> }> }>(dry).plans;
    expect(plans.map((p) => p.target)).toEqual(['state', 'read-side']);
    expect(plans[0].records).toBe(actions.length);
    expect(plans[0].read.every((r) => r.mode === 'fresh')).toBe(true);
    expect({ files: readdirSync(settings.aggregator.dataDir).sort(), counts: await countsEnd() }).toEqual(before);

    const gens = new ReadSideGenerations(redis, settings.redis.keyPrefix);
    const genBefore = await gens.current();
    const run = await runCli(['rebuild', '--target', 'all', '--json'], env);
    expect(run.stderr).not.toMatch(/doubletap:/);
    expect(run.code).toBe(0);
    const [state, readSide] = doc<{
      results: [{ records: number; replacedStoresAt: string; partitions: Array<{ partition: number; likes: number }> }, { to: { generation: number } }];
    }>(run).results;
    expect(state.records).toBe(actions.length);
    expect(state.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    const truthTotal = [...truth.values()].reduce((a, b) => a + b, 0);
    expect(state.partitions.reduce((n, p) => n + p.likes, 0)).toBe(truthTotal);
    expect(readdirSync(state.replacedStoresAt).sort()).toEqual(['p-0', 'p-1', 'p-2', 'p-3']);
    expect(existsSync(join(settings.aggregator.dataDir, 'rebuild-state.json'))).toBe(false);

    // the rebuilt stores hold exactly the truth, per post over the partitions
    const fromStores = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const store = await PartitionStore.open(settings.aggregator.dataDir, p);
      for (const [post, c] of await store.allCounts()) fromStores.set(post, (fromStores.get(post) ?? 0) + c);
      await store.close();
    }
    for (const p of posts) expect({ p, c: fromStores.get(p) ?? 0 }).toEqual({ p, c: truth.get(p) });
    expect(readSide.to.generation).toBe(genBefore + 1);
    expect(sorted(await served())).toEqual(sorted(truth));

    // an interrupted rebuild leaves its marker: the next run resumes that partition after its offset
    await writeFile(join(settings.aggregator.dataDir, 'rebuild-state.json'), JSON.stringify({ startedAt: new Date().toISOString(), partitions: [2] }));
    const resume = await runCli(['rebuild', '--target', 'state', '--partitions', '2', '--json'], env);
    expect(resume.code).toBe(0);
    const resumed = doc<{ results: [{ records: number; replacedStoresAt: string | null; partitions: Array<{ mode: string; records: number }> }] }>(resume).results[0];
    expect(resumed.partitions).toEqual([expect.objectContaining({ mode: 'resume', records: 0 })]);
    expect(resumed.replacedStoresAt).toBeNull();
    expect(existsSync(join(settings.aggregator.dataDir, 'p-2'))).toBe(true);
    expect(existsSync(join(settings.aggregator.dataDir, 'rebuild-state.json'))).toBe(false);
    expect((await runCli(['verify', '--json'], env)).code).toBe(0);
  });
});
