import type { Redis } from './client';
import { isValidId } from '@doubletap/events';
import type { Logger } from '@doubletap/observability';
import { createSubscriber } from './client';
import { countChannel, ownersChannel, readyChannel } from './keys';
import { MAX_POSTS_PER_READ, type CountSnapshot, type LikesReader } from './reader';

/** A count as pushed to live viewers (same shape as a CountSnapshot). */
export type CountUpdate = CountSnapshot;

/**
 * One viewer's view of one post. Holds at most ONE pending update ("latest value wins"): while the
 * viewer is slow, newer counts overwrite the pending one, so memory per viewer is bounded no matter
 * how fast the count changes. Updates older than what was already offered (by asOf, which the
 * projection keeps strictly increasing per post) are ignored, so a late snapshot read never moves a
 * viewer backwards.
 */
export class LiveSubscription implements AsyncIterable<CountUpdate> {
  private slot?: CountUpdate;
  private version = -1;
  private waiter?: (update: CountUpdate | null) => void;
  private closedFlag = false;
  /** updates overwritten before the viewer took them */
  superseded = 0;

  constructor(
    readonly postId: string,
    private readonly onClose: (sub: LiveSubscription) => void,
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  /** the update waiting to be taken, if any */
  get pending(): CountUpdate | undefined {
    return this.slot;
  }

  /** Offers an update; returns false if it was not newer than the last one offered. */
  offer(update: CountUpdate): boolean {
    if (this.closedFlag) return false;
    const version = update.asOf ?? 0;
    if (version <= this.version) return false;
    this.version = version;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(update);
    } else {
      if (this.slot) this.superseded++;
      this.slot = update;
    }
    return true;
  }

  /** The newest update not yet taken: at once if one is pending, else when one arrives; null once closed. */
  next(): Promise<CountUpdate | null> {
    if (this.slot) {
      const update = this.slot;
      this.slot = undefined;
      return Promise.resolve(update);
    }
    if (this.closedFlag) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new Error('LiveSubscription.next() is already waiting'));
    return new Promise((resolve) => (this.waiter = resolve));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CountUpdate> {
    for (;;) {
      const update = await this.next();
      if (update === null) return;
      yield update;
    }
  }

  /** Stops the subscription (idempotent); a waiting next() resolves with null. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.slot = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(null);
    this.onClose(this);
  }
}

export interface LiveCountsOptions {
  /** Redis URL for the hub's own subscriber connection */
  url: string;
  /** its name in CLIENT LIST (default live-counts) */
  name?: string;
  prefix: string;
  /** for the current count of a newly watched post and for a refresh after a reconnect */
  reader?: LikesReader;
  logger?: Logger;
}

interface ChannelState {
  postId: string;
  subs: Set<LiveSubscription>;
  /** holds taken through hold() (the near cache), beside the viewers */
  holds: number;
  /** settles when the SUBSCRIBE issued for the first viewer or hold was answered (or failed) */
  subscribed: Promise<void>;
  /** the connection (LiveCounts.connection) on which the server confirmed the SUBSCRIBE */
  confirmedOn: number;
}

/**
 * Hears what the hub hears, for in-process caches (NearCache in @doubletap/queries). Called
 * synchronously, in the order Redis sent the messages.
 */
export interface CountFeedListener {
  /** a count change on a channel that is watched or held */
  change?(update: CountUpdate): void;
  /**
   * Changes may have been missed, or counts changed without a change message: the subscriber
   * connection was lost or (re)established, or the read side announced a heal, a restore or a
   * generation switch. Everything cached from earlier is suspect.
   */
  gap?(reason: string): void;
  /** an aggregator announced a change of the owners map */
  ownersChanged?(): void;
}

/**
 * Live count fan-out for one process: ONE Redis subscriber connection shared by every viewer of
 * every post. The first viewer of a post SUBSCRIBEs its channel, the last one leaving UNSUBSCRIBEs
 * it (commands on one connection are ordered, so the server's state always ends up matching the
 * viewer set). After a reconnect the hub re-subscribes every watched channel itself and pushes the
 * current counts, since updates published while it was away are gone. The same refresh runs when
 * the read side announces that it is complete again after a heal (ADR 0008): nothing is published
 * while it heals, so viewers would otherwise keep the value from before the loss.
 *
 * Mounting it behind SSE (one hub per process, shared by every request):
 *   const live = new LiveCounts({ url, prefix, reader });        // at startup; live.close() at shutdown
 *   const sub = live.watch(postId);                               // per request; current count comes first
 *   req.raw.on('close', () => sub.close());                       // cleanup on disconnect
 *   for await (const u of sub) if (!res.write(`data: ${JSON.stringify(u)}\n\n`)) await once(res, 'drain');
 * A viewer that cannot keep up simply skips to the newest count.
 */
export class LiveCounts {
  private readonly subscriber: Redis;
  private readonly channels = new Map<string, ChannelState>();
  private readonly restored: string;
  private readonly owners: string;
  private readonly listeners = new Set<CountFeedListener>();
  /** bumped whenever the subscriber connection goes or comes: a SUBSCRIBE is confirmed per connection */
  private connection = 0;
  /** the connection on which the announcement channels (restored, owners) were confirmed */
  private controlOn = -1;
  private closing = false;

  constructor(private readonly options: LiveCountsOptions) {
    this.restored = readyChannel(options.prefix);
    this.owners = ownersChannel(options.prefix);
    this.subscriber = createSubscriber({
      url: options.url,
      name: options.name ?? 'live-counts',
      offlineQueue: false,
      autoResubscribe: false,
    });
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.subscriber.on('ready', () => {
      this.connection++;
      this.gap('subscriber connected');
      void this.resync();
    });
    this.subscriber.on('close', () => {
      this.connection++;
      if (!this.closing) this.gap('subscriber connection lost');
    });
    this.subscriber.on('error', (err: Error) => options.logger?.debug({ err }, 'live counts subscriber error'));
  }

  /** true while the subscriber connection is up */
  get connected(): boolean {
    return this.subscriber.status === 'ready';
  }

  /** channels: posts with at least one viewer (posts only held through hold() are not counted) */
  stats(): { channels: number; viewers: number } {
    let viewers = 0;
    let channels = 0;
    for (const state of this.channels.values()) {
      viewers += state.subs.size;
      if (state.subs.size > 0) channels++;
    }
    return { channels, viewers };
  }

  /** Adds a listener (see CountFeedListener); returns its removal. */
  listen(listener: CountFeedListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Keeps the post's channel subscribed until release(postId), beside any viewers. Resolves true
   * once the server has confirmed the SUBSCRIBE on the current connection: from then on every change
   * of the post reaches the listeners' change() until their next gap(). Resolves false when that is
   * not the case now (not connected, SUBSCRIBE failed, the connection changed meanwhile); the hold
   * stays (it is subscribed again after a reconnect) until released.
   */
  hold(postId: string): Promise<boolean> {
    const state = this.channelOf(postId);
    state.holds++;
    // a count read is only as good as the announcements heard since: those channels come first
    const confirmed = (connection: number) =>
      state.confirmedOn === connection && this.controlOn === connection && this.connection === connection;
    if (this.connected && confirmed(this.connection)) return Promise.resolve(true);
    const connection = this.connection;
    return state.subscribed.then(() => confirmed(connection));
  }

  /** Gives a hold back; the channel is unsubscribed when nothing watches or holds it any more. */
  release(postId: string): void {
    const channel = countChannel(this.options.prefix, postId);
    const state = this.channels.get(channel);
    if (!state || state.holds === 0) return;
    state.holds--;
    this.dropIfUnused(channel, state);
  }

  private channelOf(postId: string): ChannelState {
    if (!isValidId(postId)) throw new TypeError(`postId ${JSON.stringify(postId)} is invalid`);
    if (this.closing) throw new Error('LiveCounts is closed');
    const channel = countChannel(this.options.prefix, postId);
    let state = this.channels.get(channel);
    if (!state) {
      const created: ChannelState = { postId, subs: new Set(), holds: 0, subscribed: Promise.resolve(), confirmedOn: -1 };
      created.subscribed = this.subscribe([created]);
      this.channels.set(channel, (state = created));
    }
    return state;
  }

  private gap(reason: string): void {
    for (const l of this.listeners) l.gap?.(reason);
  }

  /**
   * Watches one post. With `initial` (default) the current count is offered as soon as the
   * subscription is in place, so a (re)connecting viewer gets a value at once. Never throws for
   * Redis trouble: a failed SUBSCRIBE is redone when the connection is back.
   */
  watch(postId: string, options: { initial?: boolean } = {}): LiveSubscription {
    const state = this.channelOf(postId);
    const channel = countChannel(this.options.prefix, postId);
    const sub = new LiveSubscription(postId, (s) => this.leave(channel, s));
    state.subs.add(sub);
    const reader = this.options.reader;
    if ((options.initial ?? true) && reader) {
      void state.subscribed.then(async () => {
        if (sub.closed) return;
        try {
          sub.offer(await reader.getCount(postId));
        } catch (err) {
          this.options.logger?.warn({ err, postId }, 'live counts: initial read failed');
        }
      });
    }
    return sub;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const state of [...this.channels.values()]) for (const sub of [...state.subs]) sub.close();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  private leave(channel: string, sub: LiveSubscription): void {
    const state = this.channels.get(channel);
    if (state?.subs.delete(sub)) this.dropIfUnused(channel, state);
  }

  private dropIfUnused(channel: string, state: ChannelState): void {
    if (state.subs.size > 0 || state.holds > 0 || this.channels.get(channel) !== state) return;
    this.channels.delete(channel);
    if (!this.closing) void this.command('unsubscribe', channel);
  }

  /** SUBSCRIBEs the channels of `states` and marks them confirmed on this connection once answered. */
  private async subscribe(states: readonly ChannelState[]): Promise<void> {
    const connection = this.connection;
    const ok = await this.command('subscribe', ...states.map((s) => countChannel(this.options.prefix, s.postId)));
    if (ok && this.connection === connection) for (const s of states) s.confirmedOn = connection;
  }

  /** true when the server answered */
  private async command(name: 'subscribe' | 'unsubscribe', ...channels: string[]): Promise<boolean> {
    if (this.subscriber.status !== 'ready') return false; // redone by resync() on 'ready'
    try {
      await this.subscriber[name](...channels);
      return true;
    } catch (err) {
      this.options.logger?.warn({ err, channels: channels.length }, `live counts: ${name} failed`);
      return false;
    }
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.restored) {
      // P: the sentinel is back; healing: it is gone; generation:<g>: the served generation switched
      this.gap(message === 'healing' ? 'read side healing' : message.startsWith('generation:') ? 'generation switched' : 'read side restored');
      if (message !== 'healing') void this.refresh('refresh after the read side changed');
      return;
    }
    if (channel === this.owners) {
      for (const l of this.listeners) l.ownersChanged?.();
      return;
    }
    const state = this.channels.get(channel);
    if (!state) return;
    let update: CountUpdate;
    try {
      const raw = JSON.parse(message) as Record<string, unknown>;
      if (raw.postId !== state.postId || typeof raw.count !== 'number' || typeof raw.asOf !== 'number')
        throw new Error('not a count message');
      update = { postId: state.postId, count: raw.count, asOf: raw.asOf };
    } catch (err) {
      this.options.logger?.warn({ err, channel }, 'live counts: ignoring malformed message');
      return;
    }
    for (const sub of state.subs) sub.offer(update);
    for (const l of this.listeners) l.change?.(update);
  }

  /** On every (re)connect: subscribe everything watched now, then push the current counts. */
  private async resync(): Promise<void> {
    if (this.closing) return;
    const connection = this.connection;
    if ((await this.command('subscribe', this.restored, this.owners)) && this.connection === connection) {
      this.controlOn = connection;
    }
    const states = [...this.channels.values()];
    if (states.length === 0) return;
    for (let i = 0; i < states.length; i += 1000) await this.subscribe(states.slice(i, i + 1000));
    await this.refresh('refresh after reconnect');
  }

  /** Offers every watched post its current count (viewers ignore what is not newer than they have). */
  private async refresh(what: string): Promise<void> {
    const reader = this.options.reader;
    if (!reader || this.closing) return;
    const states = [...this.channels.values()];
    for (let i = 0; i < states.length; i += MAX_POSTS_PER_READ) {
      const chunk = states.slice(i, i + MAX_POSTS_PER_READ);
      try {
        const counts = await reader.getMany(chunk.map((s) => s.postId));
        counts.forEach((c, j) => chunk[j].subs.forEach((sub) => sub.offer(c)));
      } catch (err) {
        this.options.logger?.warn({ err }, `live counts: ${what} failed`);
        return;
      }
    }
  }
}
