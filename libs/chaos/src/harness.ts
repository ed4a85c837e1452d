import { mintToken } from '@doubletap/auth';
import type { CheckResult } from '@doubletap/loadgen';
import { EventCodec, RECOUNT_UNKNOWN_ID_POLICY } from '@doubletap/events';
import { type StackControl, waitFor } from '@doubletap/testing';
import { checkAcceptedInLog, checkReadApi, staleCountKeys } from './checks';
import { ChaosPipeline } from './pipeline';
import { Traffic } from './traffic';
import { verifyWithCli } from './verify-cli';
import type { ScenarioName, ScenarioResult } from './types';

export interface ChaosContext {
  stack: StackControl;
  stackEnv: Record<string, string>;
  seed: number;
  quick: boolean;
  /** open-loop requests/s during a scenario */
  rate: number;
  partitions: number;
  log: (line: string) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One scenario's run: its pipeline, its traffic, and what it found. */
export class Harness {
  traffic?: Traffic;
  readonly codec: EventCodec;
  cycles = 0;
  refusal?: string;
  private healWorst = 0;
  private faultEnd?: number;
  private checked = false;
  readonly notes: string[] = [];
  readonly failures: string[] = [];
  private accepted = 0;
  private missing = 0;
  private duplicated = 0;
  private mismatches = 0;
  private staleCounts = 0;

  constructor(
    readonly ctx: ChaosContext,
    readonly name: ScenarioName,
    readonly pipeline: ChaosPipeline,
  ) {
    // the recounts (the log check, verify) judge unknown schema ids as `doubletap verify` does
    this.codec = new EventCodec(pipeline.settings.registry.url, pipeline.settings.topics, { unknownSchemaIds: RECOUNT_UNKNOWN_ID_POLICY });
  }

  get topics(): ChaosPipeline['settings']['topics'] {
    return this.pipeline.settings.topics;
  }

  log(line: string): void {
    this.ctx.log(`[${this.name}] ${line}`);
  }

  fail(why: string): void {
    this.failures.push(why);
    this.log(`FAIL: ${why}`);
  }

  /** Starts the open-loop traffic of this scenario. */
  startTraffic(): void {
    const auth = this.pipeline.settings.auth;
    this.traffic = new Traffic({
      url: this.pipeline.apiUrl,
      rate: this.ctx.rate,
      seed: this.ctx.seed,
      runId: `ch${this.ctx.seed}${this.name.replace(/-/g, '').slice(0, 10)}${Date.now().toString(36).slice(-4)}`,
      auth: { secret: auth.hs256Secret, issuer: auth.issuer, audience: auth.audience },
    });
  }

  /** The fault ends now: the restart, resume or start that undoes it is about to be issued. */
  faultEnds(): void {
    this.faultEnd = Date.now();
  }

  /**
   * Waits until every app answers /ready 200 and keeps the worst time from the end of the fault
   * (faultEnds(), else now) that it took.
   */
  async healed(ids = this.pipeline.ids()): Promise<number> {
    const from = this.faultEnd ?? Date.now();
    this.faultEnd = undefined;
    await Promise.all(ids.map((id) => this.pipeline.ready(id, 180_000)));
    const s = (Date.now() - from) / 1000;
    this.healWorst = Math.max(this.healWorst, s);
    return s;
  }

  /** A refusal showed after `seconds`: the scenario's "time to heal" is the time to refuse. */
  refusedAfter(seconds: number): void {
    this.healWorst = Math.max(this.healWorst, seconds);
  }

  /**
   * Stops the traffic, waits until the aggregators applied all of likes.events, then the three
   * checks: every 202'd eventId in the log exactly once, `doubletap verify` finds no mismatch, the
   * read API equals the generator's ground truth; and no key of likes.counts ends on a stale count.
   */
  async checkAll(): Promise<void> {
    this.checked = true;
    const report = await this.traffic?.stop();
    const truth = this.traffic?.truth;
    const ids = this.traffic?.acceptedIds ?? [];
    this.accepted = ids.length;
    if (report) this.notes.push(`load: ${report.requests.sent} sent, ${report.requests.accepted} accepted, by status ${JSON.stringify(report.requests.byStatus)}`);
    await this.codec.init();
    try {
      await waitFor('the aggregators applied all of likes.events', () => this.pipeline.caughtUp(), 180_000, 500);
    } catch (e) {
      this.fail((e as Error).message);
    }
    const logCheck = await checkAcceptedInLog(this.pipeline.kafka, this.codec, this.topics.events, ids);
    this.missing = logCheck.missing;
    this.duplicated = logCheck.duplicated;
    if (logCheck.missing > 0 || logCheck.duplicated > 0) this.fail(`202'd events not in the log exactly once: ${logCheck.examples.join(', ')}`);
    if (truth) {
      const read = await this.readApi(120_000);
      this.mismatches += read.mismatchCount;
      if (!read.ok) this.fail(`read API differs from the ground truth on ${read.mismatchCount} posts: ${JSON.stringify(read.mismatches.slice(0, 3))}`);
      else this.notes.push(`read API = ground truth on ${read.posts} posts (${read.exactPosts} exact, ${read.uncertainPairs} uncertain pairs) after ${(read.waitedMs / 1000).toFixed(1)} s`);
    }
    const v = await verifyWithCli(this.pipeline.env, this.pipeline.apiUrl);
    this.mismatches += v.mismatches.length;
    if (!v.ok) this.fail(`doubletap verify: ${v.mismatches.length} mismatches, e.g. ${JSON.stringify(v.mismatches.slice(0, 3))}`);
    else this.notes.push(`doubletap verify: ${v.posts} posts recounted from ${v.events} events, 0 mismatches`);
    this.staleCounts = await staleCountKeys(this.pipeline.kafka, this.codec, this.topics.counts);
    if (this.staleCounts > 0) this.fail(`${this.staleCounts} keys of likes.counts end on a stale count`);
  }

  /** The read API's counts against the traffic's ground truth, waiting up to waitMs for them to match. */
  async readApi(waitMs: number): Promise<CheckResult> {
    const token = await mintToken(this.pipeline.settings.auth.hs256Secret, 'chaos-reader', { ttlSeconds: 600 });
    return checkReadApi(this.pipeline.apiUrl, this.traffic!.truth, token, waitMs);
  }

  /** Traffic for a few seconds, then the checks: a sound state before a fault the system must refuse. */
  async settledState(): Promise<void> {
    this.startTraffic();
    await sleep(4000);
    await this.checkAll();
  }

  /** What the scenario found. */
  async result(started: number): Promise<ScenarioResult> {
    if (!this.checked) await this.checkAll();
    return {
      name: this.name,
      cycles: this.cycles,
      accepted: this.accepted,
      missing: this.missing,
      duplicated: this.duplicated,
      mismatches: this.mismatches,
      healSeconds: Math.round(this.healWorst * 10) / 10,
      ...(this.refusal ? { refusal: this.refusal } : {}),
      staleCounts: this.staleCounts,
      notes: this.notes,
      ok: this.failures.length === 0,
      failures: this.failures,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  }

  async close(): Promise<void> {
    await this.traffic?.stop().catch(() => undefined);
  }
}
