import type { ConsumerStatus } from './batch-consumer';
import { Registry } from '@doubletap/observability';
import { consumerDead, consumerNotReady, coordinatorSilenceGauge, coordinatorSilenceMs } from './consumer-health';

const limits = { sessionTimeoutMs: 10_000, silenceMaxMs: 120_000 };
const joinedAt = 1_000_000;
const running = (lastGroupAnswer?: number): ConsumerStatus => ({ state: 'running', restarts: 0, since: joinedAt, lastGroupAnswer });

describe('consumer health (ADR 0028)', () => {
  it('counts the silence from the last answer of the coordinator, or from the join when none came since', () => {
    expect(coordinatorSilenceMs(running(joinedAt + 4000), joinedAt + 5000)).toBe(1000);
    expect(coordinatorSilenceMs(running(), joinedAt + 5000)).toBe(5000);
    // an answer from before the last join (a consumer replaced after a crash) does not count
    expect(coordinatorSilenceMs(running(joinedAt - 60_000), joinedAt + 5000)).toBe(5000);
    expect(coordinatorSilenceMs({ state: 'starting', restarts: 0, since: joinedAt }, joinedAt + 60_000)).toBe(0);
  });

  it('a running member answered within its session is alive and ready', () => {
    const s = running(joinedAt + 50_000);
    expect(consumerDead(s, limits, joinedAt + 59_000)).toBeUndefined();
    expect(consumerNotReady(s, limits, joinedAt + 59_000)).toBeUndefined();
  });

  it('a member its coordinator has not answered for longer than the session is alive but not ready', () => {
    const s = running(joinedAt + 50_000);
    expect(consumerDead(s, limits, joinedAt + 60_001)).toBeUndefined();
    expect(consumerNotReady(s, limits, joinedAt + 60_001)).toMatch(/coordinator has not answered for 10\.0 s, longer than the 10\.0 s session/);
  });

  it('past the silence limit it is not alive either (a restart finds the coordinator afresh), unless the limit is 0', () => {
    const s = running(joinedAt);
    expect(consumerDead(s, limits, joinedAt + 120_001)).toMatch(/not answered for 120\.0 s \(limit 120\.0 s\)/);
    expect(consumerNotReady(s, limits, joinedAt + 120_001)).toMatch(/limit 120\.0 s/);
    expect(consumerDead(s, { ...limits, silenceMaxMs: 0 }, joinedAt + 10 * 120_001)).toBeUndefined();
  });

  it('a crashed or stopped consumer is dead whatever its coordinator said, a starting one only not ready', () => {
    const at = joinedAt + 1000;
    expect(consumerDead({ state: 'restarting', restarts: 1, since: joinedAt, lastError: 'boom', lastGroupAnswer: at }, limits, at)).toMatch(/crashed and is restarting \(boom\)/);
    expect(consumerDead({ state: 'stopped', restarts: 0, since: joinedAt }, limits, at)).toBe('the consumer stopped');
    const starting: ConsumerStatus = { state: 'starting', restarts: 0, since: joinedAt };
    expect(consumerDead(starting, limits, at)).toBeUndefined();
    expect(consumerNotReady(starting, limits, at)).toBe('the consumer is starting');
  });

  it('the silence is a gauge read at each scrape', async () => {
    const registry = new Registry();
    let status: ConsumerStatus = { state: 'running', restarts: 0, since: Date.now() - 5000 };
    coordinatorSilenceGauge(registry, () => status);
    const value = async () => (await registry.getSingleMetric('doubletap_consumer_coordinator_silence_seconds')!.get()).values[0].value;
    expect(await value()).toBeGreaterThanOrEqual(5);
    expect(await value()).toBeLessThan(60);
    status = { ...status, lastGroupAnswer: Date.now() };
    expect(await value()).toBeLessThan(1);
    status = { state: 'stopped', restarts: 0, since: 0 };
    expect(await value()).toBe(0);
  });
});
