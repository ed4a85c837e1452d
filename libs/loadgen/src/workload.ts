import type { LikeAction } from '@doubletap/events';
import { rng, ZipfSampler } from './random';

export type Scenario = 'viral' | 'mixed';

export interface WorkloadOptions {
  scenario: Scenario;
  /** prefix of every post id, unique per run so every count starts at 0 */
  runId: string;
  /** synthetic users (one minted token each) */
  users: number;
  /** posts of the mixed scenario */
  posts: number;
  /** Zipf exponent of the mixed scenario's post popularity */
  zipf: number;
  /** share of requests that repeat the latest LIKE (same user, same post): a double tap */
  doubleTap: number;
  /** share of requests that UNLIKE a post the user liked earlier */
  unlike: number;
  seed: number;
}

export interface PlannedRequest {
  postId: string;
  user: number;
  action: LikeAction;
}

/** Likers younger than this many likes are not picked for an UNLIKE (it would race their LIKE). */
const UNLIKE_DISTANCE = 256;

/**
 * What each scheduled slot sends. Deterministic from the seed; independent of answers, so the
 * schedule stays open-loop. `viral`: one post, fresh users like it in turn (cycling once every user
 * has); `mixed`: posts drawn by Zipf popularity, users uniformly.
 */
export class Workload {
  private readonly random: () => number;
  private readonly zipf?: ZipfSampler;
  private nextUser = 0;
  private lastLike?: PlannedRequest;
  /** likes sent, per post (viral: one post), for picking unlikes */
  private readonly likers = new Map<string, number[]>();
  /** built once: a template string per request would be a new string to hash on every Map lookup */
  private readonly viral: string;

  constructor(private readonly o: WorkloadOptions) {
    if (o.doubleTap < 0 || o.unlike < 0 || o.doubleTap + o.unlike > 1)
      throw new Error('double-tap and unlike shares must be >= 0 and add up to at most 1');
    this.random = rng(o.seed);
    this.viral = `${o.runId}-viral`;
    if (o.scenario === 'mixed') this.zipf = new ZipfSampler(o.posts, o.zipf, this.random);
  }

  get viralPost(): string {
    return this.viral;
  }

  /** The post the run samples freshness on: the viral post, or the most popular mixed post. */
  get hotPost(): string {
    return this.o.scenario === 'viral' ? this.viralPost : this.post(0);
  }

  private post(rank: number): string {
    return `${this.o.runId}-p${rank}`;
  }

  next(): PlannedRequest {
    const r = this.random();
    if (r < this.o.doubleTap && this.lastLike) return { ...this.lastLike };
    const postId = this.o.scenario === 'viral' ? this.viralPost : this.post(this.zipf!.next());
    if (r < this.o.doubleTap + this.o.unlike) {
      const likers = this.likers.get(postId);
      if (likers && likers.length > UNLIKE_DISTANCE) {
        const user = likers[Math.floor(this.random() * (likers.length - UNLIKE_DISTANCE))];
        return { postId, user, action: 'UNLIKE' };
      }
    }
    const user =
      this.o.scenario === 'viral' ? this.nextUser++ % this.o.users : Math.floor(this.random() * this.o.users);
    const like: PlannedRequest = { postId, user, action: 'LIKE' };
    let list = this.likers.get(postId);
    if (!list) this.likers.set(postId, (list = []));
    list.push(user);
    this.lastLike = like;
    return { ...like };
  }
}
