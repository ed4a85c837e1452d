import { uniqueName } from '@doubletap/testing';
import { type FuzzCase, generateCase, Rng } from './fuzz-cases';
import { tokenPools } from './fuzz-tokens';
import {
  type RunningApi,
  startApiOnFreshTopics,
  stopApiAndTopics,
  testKafka,
  topicSize,
  type Topics,
} from './helpers';
import { rawRequest } from './raw-http';

/**
 * FUZZ_SEED replays a run (the seed is printed at the start and in every failure); FUZZ_COUNT sets
 * how many requests. Without FUZZ_SEED every run explores new cases.
 */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const COUNT = Number(process.env.FUZZ_COUNT ?? 10_000);
const CONCURRENCY = 16;
const ISSUER = 'https://id.doubletap.test';
const AUDIENCE = 'doubletap-api';
const BODY_LIMIT = 1024;
const PROBLEM_TYPE = /^https:\/\/doubletap\.dev\/problems\/[a-z0-9-]+$/;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface Failure {
  index: number;
  scenario: string;
  transport: string;
  request: string;
  why: string;
  answer?: string;
}

describe(`fuzz: ${COUNT} generated bad requests (seed ${SEED})`, () => {
  const kafka = testKafka();
  let topics: Topics;
  let api: RunningApi;

  beforeAll(async () => {
    ({ topics, api } = await startApiOnFreshTopics(
      kafka,
      2,
      {
        RATE_LIMIT_PER_SEC: '0',
        API_BODY_LIMIT_BYTES: String(BODY_LIMIT),
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        REDIS_KEY_PREFIX: `${uniqueName('fuzz')}:`,
      },
      { ready: true },
    ));
  }, 60_000);
  afterAll(() => stopApiAndTopics(kafka, api, topics));

  it(
    'answers every one with a 4xx problem+json, never a 5xx, produces nothing and stays up',
    async () => {
      const port = Number(new URL(api.url).port);
      const pools = await tokenPools(api.settings.auth.hs256Secret, ISSUER, AUDIENCE);
      const ctx = { ...pools, bodyLimitBytes: BODY_LIMIT };
      const rng = new Rng(SEED);
      // generated up front, so a seed gives the same cases whatever the timing
      const cases = Array.from({ length: COUNT }, () => generateCase(rng, ctx));
      const before = await topicSize(kafka, topics.events);
      const errorsBefore = await serverErrors(api.url);
      process.stdout.write(`fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT})\n`);

      const statuses = new Map<string, number>();
      const scenarios = new Map<string, number>();
      const failures: Failure[] = [];
      const started = Date.now();
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < cases.length; i = next++) {
          const c = cases[i];
          const family = c.scenario.split('+')[0].split('/').slice(0, 2).join('/');
          scenarios.set(family, (scenarios.get(family) ?? 0) + 1);
          let answer: Answer;
          try {
            answer = await send(port, api.url, c);
          } catch (e) {
            count(statuses, 'no answer');
            failures.push(failure(i, c, `no answer: ${e instanceof Error ? e.message : String(e)}`));
            continue;
          }
          count(statuses, String(answer.status));
          const why = check(c, answer);
          if (why) failures.push(failure(i, c, why, answer));
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const seconds = (Date.now() - started) / 1000;

      process.stdout.write(summary(statuses, scenarios, cases, seconds));
      if (failures.length > 0) {
        const classes = new Map<string, number>();
        for (const f of failures)
          count(
            classes,
            `${f.scenario.split('+')[0].split('/').slice(0, 2).join('/')}: ${f.why.slice(0, 80)}`,
          );
        process.stdout.write(`fuzz: ${failures.length} failures by class\n${table(classes)}\n`);
      }
      // the api's own view: no request it handled during the run ended in a 5xx (including those
      // whose client was gone); /ready answered 503 while the api was starting, before the run
      const served5xx = diff(await serverErrors(api.url), errorsBefore);
      const health = await fetch(`${api.url}/health`);
      const after = await topicSize(kafka, topics.events);

      expect({ seed: SEED, failures: failures.slice(0, 25), total: failures.length }).toEqual({
        seed: SEED,
        failures: [],
        total: 0,
      });
      expect({ seed: SEED, served5xx }).toEqual({ seed: SEED, served5xx: [] });
      expect(health.status).toBe(200);
      expect({ seed: SEED, producedByBadRequests: after - before }).toEqual({
        seed: SEED,
        producedByBadRequests: 0,
      });
      expect(statuses.size).toBeGreaterThan(0);
    },
    120_000 + COUNT * 30,
  );
});

/** The api's request counters with a 5xx status, by label set. */
async function serverErrors(base: string): Promise<Map<string, number>> {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const lines = metrics.matchAll(
    /^doubletap_api_request_duration_seconds_count(\{[^}]*status="5\d\d"[^}]*\}) (\d+)$/gm,
  );
  return new Map([...lines].map((m) => [m[1], Number(m[2])]));
}

function diff(after: Map<string, number>, before: Map<string, number>): string[] {
  return [...after]
    .filter(([k, n]) => n > (before.get(k) ?? 0))
    .map(([k, n]) => `${k} +${n - (before.get(k) ?? 0)}`);
}

async function send(port: number, base: string, c: FuzzCase): Promise<Answer> {
  if (c.transport === 'raw') {
    const r = await rawRequest(port, c.bytes!, { endAfterWrite: c.endAfterWrite, timeoutMs: 15_000 });
    return { status: r.status, headers: r.headers, body: r.body };
  }
  const res = await fetch(`${base}${c.target}`, {
    method: c.method,
    headers: c.headers,
    body: c.body.length > 0 ? new Uint8Array(c.body) : undefined,
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
  });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Why an answer is wrong, or undefined when it is a precise 4xx problem. */
function check(c: FuzzCase, a: Answer): string | undefined {
  if (a.status < 400 || a.status > 499) return `status ${a.status}, not a 4xx`;
  if (a.headers['content-type'] !== 'application/problem+json')
    return `content-type ${JSON.stringify(a.headers['content-type'])}, not application/problem+json`;
  if (c.expect && !c.expect.includes(a.status))
    return `status ${a.status}, expected ${c.expect.join(' or ')}`;
  if (a.status === 405 && !a.headers.allow) return '405 without Allow';
  if (a.status === 401 && !a.headers['www-authenticate']?.startsWith('Bearer '))
    return '401 without a Bearer challenge';
  if (isHead(c)) return a.body.length === 0 ? undefined : 'a body in a HEAD response';
  let problem: { type?: unknown; title?: unknown; status?: unknown; detail?: unknown };
  try {
    problem = JSON.parse(a.body.toString('utf8')) as typeof problem;
  } catch {
    return 'the body is not JSON';
  }
  if (problem.status !== a.status)
    return `problem.status ${String(problem.status)} differs from the HTTP status`;
  if (typeof problem.type !== 'string' || !PROBLEM_TYPE.test(problem.type))
    return `problem.type ${String(problem.type)}`;
  if (typeof problem.title !== 'string' || problem.title === '') return 'no problem.title';
  if (typeof problem.detail !== 'string' || problem.detail.trim() === '') return 'no problem.detail';
  return undefined;
}

const isHead = (c: FuzzCase): boolean =>
  c.transport === 'fetch' ? c.method === 'HEAD' : c.bytes!.subarray(0, 5).toString('latin1') === 'HEAD ';

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function failure(index: number, c: FuzzCase, why: string, answer?: Answer): Failure {
  const request =
    c.transport === 'raw'
      ? JSON.stringify(c.bytes!.subarray(0, 300).toString('latin1'))
      : `${c.method} ${c.target.slice(0, 200)} ${JSON.stringify(c.headers).slice(0, 200)} body ${JSON.stringify(c.body.subarray(0, 100).toString('latin1'))}`;
  return {
    index,
    scenario: c.scenario,
    transport: c.transport,
    request,
    why,
    answer:
      answer &&
      `${answer.status} ${answer.headers['content-type'] ?? ''} ${answer.body.subarray(0, 300).toString('utf8')}`,
  };
}

function summary(
  statuses: Map<string, number>,
  scenarios: Map<string, number>,
  cases: FuzzCase[],
  seconds: number,
): string {
  const rows = table;
  const raw = cases.filter((c) => c.transport === 'raw').length;
  return [
    `fuzz: ${cases.length} requests (${raw} raw, ${cases.length - raw} fetch) in ${seconds.toFixed(1)} s, seed ${SEED}`,
    '  status                                 count',
    rows(statuses),
    '  scenario                               count',
    rows(scenarios),
    '',
  ].join('\n');
}

function table(map: Map<string, number>): string {
  return [...map]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `  ${k.padEnd(36)} ${String(n).padStart(6)}`)
    .join('\n');
}
