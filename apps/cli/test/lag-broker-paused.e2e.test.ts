import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createKafka } from '@doubletap/kafka';
import { ownBrokerForFile, REPO_ROOT, stackEnv, uniqueName, waitFor } from '@doubletap/testing';

/**
 * `doubletap lag --watch` while the broker (and with it the group's coordinator) stops answering:
 * the sample that fails is reported as a line `{"at", "error"}` and the watch goes on; once the
 * broker answers again the samples come back, and SIGINT still ends it cleanly. The broker is this
 * file's own (OwnBroker), paused by SIGSTOP through the stack script.
 */
jest.setTimeout(240_000);

const broker = ownBrokerForFile();

interface Line {
  groups?: Array<{ group: string; topic: string; totalLag: number }>;
  at?: string;
  error?: string;
}

it('a failed sample is reported and the watch goes on; samples come back when the broker does', async () => {
  const kafka = createKafka({ brokers: [broker.address], clientId: 'lag-paused-e2e' });
  const topic = uniqueName('lag-paused');
  const group = uniqueName('g-lag-paused');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(i) })) });
    await producer.disconnect();
    // a group with committed offsets and no members: 3 behind on each partition at most
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '2' }] });
  } finally {
    await admin.disconnect();
  }

  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'doubletap.js'), 'lag', '-g', group, '-t', topic, '--watch', '-i', '1', '--json'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...stackEnv({ KAFKA_BROKERS: broker.address }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const l of parts) if (l.trim() !== '') lines.push(JSON.parse(l) as Line);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exitCode = code), resolve())));
  const sampled = (from: number) => lines.slice(from).some((l) => l.groups?.[0]?.group === group);
  try {
    await waitFor('a first sample', () => sampled(0), 60_000);
    expect(lines.find((l) => l.groups)!.groups![0]).toMatchObject({ group, topic });

    await broker.pause();
    const pausedAt = lines.length;
    await waitFor('a failed sample reported', () => exitCode === undefined && lines.slice(pausedAt).some((l) => l.error), 90_000);
    const failed = lines.slice(pausedAt).find((l) => l.error)!;
    expect(failed.at).toEqual(expect.any(String));
    expect(exitCode).toBeUndefined(); // still watching

    await broker.resume();
    const resumedAt = lines.length;
    await waitFor('samples again after the broker resumed', () => sampled(resumedAt), 90_000);
    expect(exitCode).toBeUndefined();
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlines: ${JSON.stringify(lines.slice(-5))}\nstderr: ${stderr.slice(-2000)}`);
  } finally {
    child.kill('SIGINT');
    await exited;
  }
  expect(exitCode).toBe(0);
});
