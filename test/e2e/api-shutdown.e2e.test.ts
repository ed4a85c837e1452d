import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { createKafka, deleteTopics, ensureTopics, readTopic, topicNames, topicSpecs } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete } from '@doubletap/redis';
import { freePort, REPO_ROOT, stackEnv, uniqueName, waitFor } from '@doubletap/testing';

const MAIN = join(REPO_ROOT, 'dist', 'apps', 'api', 'src', 'main.js');

describe('api process: SIGTERM under load', () => {
  const topics = {
    events: uniqueName('e2e-events'),
    counts: uniqueName('e2e-counts'),
    deadLetter: uniqueName('e2e-dlq'),
    partitions: 4,
  };
  const env = stackEnv({
    TOPIC_EVENTS: topics.events,
    TOPIC_COUNTS: topics.counts,
    TOPIC_DEAD_LETTER: topics.deadLetter,
    TOPIC_PARTITIONS: '4',
    RATE_LIMIT_PER_SEC: '0',
    LOG_LEVEL: 'warn',
    REDIS_KEY_PREFIX: `${uniqueName('e2e-shutdown')}:`,
  });
  const settings = loadSettings(env);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'e2e' });
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await ensureTopics(kafka, topicSpecs(topics));
    // no projector runs here: the read side is declared complete, or the api is never ready (ADR 0008)
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await markReadSideComplete(redis, settings.redis.keyPrefix, topics.partitions);
    await redis.quit();
  }, 60000);
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await deleteTopics(kafka, topicNames(topics));
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix);
    await redis.quit();
  });

  it('answers what is in flight, then exits; every 202 is in the topic exactly once', async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, ['-r', './scripts/paths.js', MAIN], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, API_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const base = `http://127.0.0.1:${port}`;
    await waitFor('api ready', async () => (await fetch(`${base}/ready`)).status === 200, 20000);

    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => mintToken(settings.auth.hs256Secret, `u${i}`)),
    );
    const accepted: string[] = [];
    let refused = 0;
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await fetch(`${base}/v1/posts/p${i % 7}/likes`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[w]}` },
          });
          if (res.status === 202) accepted.push(((await res.json()) as { eventId: string }).eventId);
          else {
            await res.arrayBuffer();
            refused++;
            return;
          }
        } catch {
          refused++;
          return;
        }
      }
    };
    const workers = Array.from({ length: tokens.length }, (_, w) => worker(w));
    await waitFor('load running', () => accepted.length >= 500, 20000, 5);
    proc.kill('SIGTERM');
    const exit = await exited;
    stop = true;
    await Promise.all(workers);

    expect(stderr).toBe('');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(refused).toBe(tokens.length); // every client saw the shutdown (503 or a closed connection)

    const records = await readTopic(kafka, topics.events, { count: accepted.length, timeoutMs: 15000 });
    const codec = new EventCodec(settings.registry.url, topics);
    const inTopic = new Map<string, number>();
    for (const r of records) {
      const e = await codec.decodeLike(r.value);
      inTopic.set(e.eventId, (inTopic.get(e.eventId) ?? 0) + 1);
    }
    const missing = accepted.filter((id) => !inTopic.has(id));
    expect(missing).toEqual([]);
    expect([...inTopic.values()].every((n) => n === 1)).toBe(true);
    // and nothing beyond what was answered 202: the drain answered every request it produced
    const admin = kafka.admin();
    await admin.connect();
    const size = (await admin.fetchTopicOffsets(topics.events)).reduce((s, p) => s + Number(p.high), 0);
    await admin.disconnect();
    expect(size).toBe(accepted.length);
  }, 45000);
});
