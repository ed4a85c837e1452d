import IORedis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import calculateSlot from 'cluster-key-slot';

/**
 * The client every doubletap part uses: one Redis (`redis://`, `rediss://`) or a Redis Cluster
 * (`redis+cluster://host:port,host:port,...`, ioredis' Cluster client; ADR 0017). Both speak the same
 * commands; what differs (scripts whose keys must share a slot, per-master pipelines, SCAN on every
 * master) is handled inside libs/redis, see `isCluster`.
 */
export type Redis = IORedis | Cluster;

export interface RedisClientOptions {
  url: string;
  /** name shown in CLIENT LIST */
  name?: string;
  /**
   * false (default): commands fail at once while disconnected, so callers can answer 503 instead of
   * queueing without bound. true: queue while reconnecting (for workers that would rather wait).
   */
  offlineQueue?: boolean;
  commandTimeoutMs?: number;
  /** re-SUBSCRIBE after a reconnect (ioredis default true); false when the caller resubscribes itself */
  autoResubscribe?: boolean;
  /**
   * Resend commands that were in flight when the connection dropped, on the new connection (ioredis
   * default true). false for writers whose commands only make sense against the Redis they were
   * meant for (the projector: a write meant for the old Redis must never land unchecked in a new,
   * empty one); such a command fails instead and its caller decides.
   */
  resendAfterReconnect?: boolean;
}

export const CLUSTER_SCHEME = 'redis+cluster://';

/** The seed nodes of a `redis+cluster://[user:password@]host:port,host:port,...` URL. */
export function parseClusterUrl(url: string): {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
} {
  if (!url.startsWith(CLUSTER_SCHEME)) throw new Error(`${url} is not a ${CLUSTER_SCHEME} URL`);
  let rest = url.slice(CLUSTER_SCHEME.length).replace(/\/$/, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  const nodes = rest.split(',').map((hp) => {
    const m = /^(.+):(\d+)$/.exec(hp.trim());
    if (!m) throw new Error(`${url}: "${hp}" is not host:port`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
  return { nodes, username, password };
}

export function isCluster(client: Redis): client is Cluster {
  return client instanceof Cluster;
}

export function createRedis(options: RedisClientOptions): Redis {
  const config: RedisOptions = {
    connectionName: options.name,
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: options.offlineQueue ? null : 1,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: 2000,
    lazyConnect: false,
    autoResubscribe: options.autoResubscribe ?? true,
    autoResendUnfulfilledCommands: options.resendAfterReconnect ?? true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  };
  if (!options.url.startsWith(CLUSTER_SCHEME)) return new IORedis(options.url, config);
  const { nodes, username, password } = parseClusterUrl(options.url);
  const { retryStrategy, enableOfflineQueue, ...perNode } = config;
  const cluster: ClusterOptions = {
    // every node connection: the same timeouts and resend rule; the cluster client owns reconnects
    redisOptions: { ...perNode, username, password },
    enableOfflineQueue,
    enableReadyCheck: true,
    scaleReads: 'master',
    // a MOVED/ASK or a node that went away: refresh the slot map and redirect, a few times
    maxRedirections: 16,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: retryStrategy,
  };
  return new Cluster(nodes, cluster);
}

/**
 * A connection for SUBSCRIBE only. One Redis: as createRedis. A Redis Cluster: a plain connection to
 * the first seed node — classic PUBLISH reaches every node of a cluster, and a plain connection
 * keeps the 'ready' / 'close' events that subscribers rely on to see a gap and re-subscribe
 * (ioredis' cluster subscriber moves between nodes silently, dropping what was published meanwhile).
 */
export function createSubscriber(options: RedisClientOptions): Redis {
  if (!options.url.startsWith(CLUSTER_SCHEME)) return createRedis(options);
  const { nodes, username, password } = parseClusterUrl(options.url);
  const url = new URL(
    `redis://${nodes[0].host.includes(':') ? `[${nodes[0].host}]` : nodes[0].host}:${nodes[0].port}`,
  );
  if (username) url.username = encodeURIComponent(username);
  if (password) url.password = encodeURIComponent(password);
  return createRedis({ ...options, url: url.toString() });
}

/**
 * The master that serves `key` now, as a stable string (its `host:port`s), so commands can be
 * grouped into one pipeline per master (ioredis' cluster pipelines must stay on one node).
 * undefined before the slot map is known.
 */
export function masterOf(client: Cluster, key: string): string | undefined {
  const nodes = client.slots[calculateSlot(key)];
  return nodes === undefined ? undefined : nodes.join(',');
}

/**
 * Runs one command per item on a Redis Cluster, in ONE pipeline per master (the masters in
 * parallel), and returns the replies in the order of `items`. `keyOf` names the key that routes the
 * item (every key of its command must be in that key's slot).
 */
export async function execPerMaster<T>(
  client: Cluster,
  items: readonly T[],
  keyOf: (item: T) => string,
  queue: (pipeline: ReturnType<Cluster['pipeline']>, item: T) => void,
): Promise<[Error | null, unknown][]> {
  return (await execPerMasterGuarded(client, items, keyOf, queue)).replies;
}

/**
 * execPerMaster, and for each master's pipeline an EXISTS of `guardOf(<a key of that group>)` queued
 * AFTER its commands (same connection, so Redis runs it after them; '' = none): `missing` lists the
 * guard keys that did not exist then (ADR 0025: that master lost its data, maybe before the reads).
 */
export async function execPerMasterGuarded<T>(
  client: Cluster,
  items: readonly T[],
  keyOf: (item: T) => string,
  queue: (pipeline: ReturnType<Cluster['pipeline']>, item: T) => void,
  guardOf?: (key: string) => string,
): Promise<{ replies: [Error | null, unknown][]; missing: string[] }> {
  const missing: string[] = [];
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    const master = masterOf(client, key) ?? `slot:${calculateSlot(key)}`;
    const group = groups.get(master);
    if (group) group.push(i);
    else groups.set(master, [i]);
  });
  const out = new Array<[Error | null, unknown]>(items.length);
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const pipeline = client.pipeline();
      for (const i of indexes) queue(pipeline, items[i]);
      const guard = guardOf?.(keyOf(items[indexes[0]])) ?? '';
      if (guard !== '') pipeline.exists(guard);
      const replies = await pipeline.exec();
      if (!replies) throw new Error('redis pipeline was discarded');
      // a pipeline that got MOVED next to successful writes is not retried by ioredis, which then
      // keeps its slot map (and a node it dropped while that master was down) as they were: every
      // later pipeline would go to the same wrong node. Refresh it, so the caller's retry finds it.
      if (replies.some(([err]) => err && /^(MOVED|ASK|CLUSTERDOWN) /.test(err.message)))
        client.refreshSlotsCache();
      indexes.forEach((i, j) => (out[i] = replies[j]));
      if (guard !== '') {
        const [err, exists] = replies[indexes.length];
        if (err) throw err;
        if (Number(exists) === 0) missing.push(guard);
      }
    }),
  );
  return { replies: out, missing };
}

/** Waits until the client is ready (or fails after timeoutMs). */
export async function redisReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs}ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
