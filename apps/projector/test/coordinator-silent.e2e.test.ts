import { loadSettings } from '@doubletap/config';
import { createKafka, ensureTopics, topicSpecs } from '@doubletap/kafka';
import { freePort, ownBrokerForFile, spawnApp, stackEnv, stopApp, uniqueName, waitFor, type AppProcess } from '@doubletap/testing';

/**
 * The projector process tells the truth when its group coordinator goes silent (ADR 0028): its
 * broker (this file's own, OwnBroker) is paused past the consumer's session, so /ready turns 503
 * naming the silence while /health is still 200 (one session: not ready, not dead), then /health
 * turns 503 too once the silence passes KAFKA_COORDINATOR_SILENCE_MAX_MS (an orchestrator would
 * restart it), and both are 200 again by themselves after the broker resumes.
 */
jest.setTimeout(240_000);

const SESSION_MS = 6000;
const SILENCE_MAX_MS = 15000;

const broker = ownBrokerForFile();

async function probe(url: string): Promise<{ status: number; detail: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { detail?: string };
    return { status: res.status, detail: body.detail ?? '' };
  } catch (e) {
    return { status: 0, detail: String(e) };
  }
}

it('a projector whose coordinator does not answer: not ready after a session, not alive after the limit, both again after', async () => {
  const kafka = createKafka({ brokers: [broker.address], clientId: 'projector-silent-e2e' });
  const topics = {
    events: uniqueName('silent-events'),
    counts: uniqueName('silent-counts'),
    deadLetter: uniqueName('silent-dlq'),
    partitions: 4,
  };
  await ensureTopics(kafka, topicSpecs(topics));
  const port = await freePort();
  const settings = loadSettings(stackEnv());
  const projector: AppProcess = spawnApp(
    'projector',
    stackEnv({
      KAFKA_BROKERS: broker.address,
      TOPIC_EVENTS: topics.events,
      TOPIC_COUNTS: topics.counts,
      TOPIC_DEAD_LETTER: topics.deadLetter,
      TOPIC_PARTITIONS: String(topics.partitions),
      PROJECTOR_GROUP: uniqueName('g-silent'),
      PROJECTOR_PORT: String(port),
      REDIS_URL: settings.redis.url,
      REDIS_KEY_PREFIX: `${uniqueName('silent')}:`,
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS),
      KAFKA_COORDINATOR_SILENCE_MAX_MS: String(SILENCE_MAX_MS),
    }),
    { logLevel: 'warn' },
  );
  const ready = `http://127.0.0.1:${port}/ready`;
  const health = `http://127.0.0.1:${port}/health`;
  try {
    await waitFor('projector ready', async () => (await probe(ready)).status === 200, 90_000);
    expect((await probe(health)).status).toBe(200);

    await broker.pause();
    const pausedAt = Date.now();
    // not ready once the coordinator has been silent for a session, and still alive then
    let notReady = { status: 0, detail: '' };
    await waitFor('/ready 503 naming the silent coordinator', async () => {
      notReady = await probe(ready);
      return notReady.status === 503 && /coordinator has not answered/.test(notReady.detail);
    }, 30_000);
    const notReadyAfter = Date.now() - pausedAt;
    const aliveThen = await probe(health);
    expect(notReadyAfter).toBeLessThan(SILENCE_MAX_MS);
    expect(aliveThen.status).toBe(200);
    // not alive once the silence passed the limit (the broker is still paused)
    let dead = { status: 0, detail: '' };
    await waitFor('/health 503 after the limit', async () => {
      dead = await probe(health);
      return dead.status === 503;
    }, 40_000);
    // (the silence began at the last answer before the pause, up to a heartbeat interval earlier)
    expect(dead.detail).toMatch(/coordinator has not answered for [\d.]+ ?s \(limit 15/);

    await broker.resume();
    await waitFor('alive and ready again after the broker resumed', async () => {
      const [h, r] = await Promise.all([probe(health), probe(ready)]);
      return h.status === 200 && r.status === 200;
    }, 90_000);
  } finally {
    await broker.resume().catch(() => undefined);
    await stopApp(projector);
  }
});
