import type { ChainableCommander } from 'ioredis';
import { isCluster, type Redis } from './client';
import { buildingPointerKey, generationPointerKey } from './generations';
import { progressKey, readyChannel, readySentinelKey } from './keys';
import { checkMasters, guardMasters, markMasters, mastersRecordKey, type MasterGuardResult } from './masters';

/**
 * The projector's progress inside Redis (ADR 0008). Hash `<prefix>likes:progress`:
 *   p:<n>        next likes.counts offset to apply for partition n; every record below it is applied
 *                to THIS Redis (written only after the data, on the same connection, so a snapshot
 *                of Redis never holds a p:<n> ahead of its data)
 *   h:<n>        the same while partition n heals (p:<n> absent): a heal's own compare-and-set
 *                chain, so a second loss during a heal is seen too
 *   partitions   P, the partition count of likes.counts
 * and the sentinel `<prefix>likes:ready`, which exists iff p:0 .. p:<P-1> all exist. Only a heal that
 * started in this Redis (h:<n> chain from the log start) creates a missing p:<n>; a batch only moves
 * an existing p:<n> from the value its projector expects. Readers refuse to answer without the
 * sentinel, so they never see a total built from part of the log.
 *
 * Every script takes KEYS[1] = progress hash, KEYS[2] = sentinel.
 */

/**
 * Lua: (re)derive the sentinel from the p:<n> fields; announce on `channel` when it appears (payload
 * P) and when it goes away (payload 'healing': in-process caches of counts drop what they hold).
 */
const LUA_SYNC_READY = `
local function partitionCount(callerP, n)
  local P = tonumber(redis.call('HGET', KEYS[1], 'partitions') or '0')
  if callerP > P then P = callerP end
  if n and n + 1 > P then P = n + 1 end -- a partition added after the caller read P
  return P
end
local function syncReady(P, channel)
  local complete = P > 0
  for n = 0, P - 1 do
    if redis.call('HEXISTS', KEYS[1], 'p:' .. n) == 0 then
      complete = false
      break
    end
  end
  if complete then
    if redis.call('SET', KEYS[2], string.format('%d', P), 'NX') then
      redis.call('PUBLISH', channel, string.format('%d', P))
    end
  elseif redis.call('DEL', KEYS[2]) == 1 then
    redis.call('PUBLISH', channel, 'healing')
  end
  return complete
end
`;

/**
 * ARGV: P, channel, partitions... Returns p:<n>, h:<n> per partition (nil when absent), and keeps
 * the sentinel equal to "every p:<n> exists" (repairs it both ways). One round trip for the timer.
 */
const CHECK_LUA = `${LUA_SYNC_READY}
syncReady(partitionCount(tonumber(ARGV[1])), ARGV[2])
local out = {}
for i = 3, #ARGV do
  local v = redis.call('HMGET', KEYS[1], 'p:' .. ARGV[i], 'h:' .. ARGV[i])
  out[#out + 1] = v[1] or false
  out[#out + 1] = v[2] or false
end
return out
`;

/**
 * ARGV: n, log start, high watermark (the heal's target), P, channel. Partition n has no p:<n>:
 * start (or resume, from h:<n>) a heal. Returns {'live', p} when p:<n> exists after all, {'healed',
 * next} when nothing is left to apply (empty partition, or a resumed heal already at the target),
 * else {'heal', from}. The sentinel goes away at once: p:<n> is missing.
 */
const START_HEAL_LUA = `${LUA_SYNC_READY}
local pf, hf = 'p:' .. ARGV[1], 'h:' .. ARGV[1]
local cur = redis.call('HGET', KEYS[1], pf)
if cur then return {'live', cur} end
local P = partitionCount(tonumber(ARGV[4]), tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'partitions', string.format('%d', P))
local from = tonumber(ARGV[2])
local h = tonumber(redis.call('HGET', KEYS[1], hf) or '-1')
if h > from then from = h end
local fromText = string.format('%d', from)
if from >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], pf, fromText)
  redis.call('HDEL', KEYS[1], hf)
  syncReady(P, ARGV[5])
  return {'healed', fromText}
end
redis.call('HSET', KEYS[1], hf, fromText)
if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[5], 'healing') end
return {'heal', fromText}
`;

/**
 * START_HEAL_LUA on a Redis Cluster (ADR 0025): KEYS[3] = the master marker record. A heal starts
 * only once every master is marked (the record exists), so a master that loses its data during
 * the heal is seen too; {'unmarked'} otherwise (the caller marks, then asks again).
 */
const GUARDED_START_HEAL_LUA = START_HEAL_LUA.replace(
  '\nlocal pf, hf',
  "\nif redis.call('EXISTS', KEYS[3]) == 0 and redis.call('HEXISTS', KEYS[1], 'p:' .. ARGV[1]) == 0 then return {'unmarked'} end\nlocal pf, hf",
);

/**
 * The progress half of a batch (queued after the batch's applies, same connection, so it runs after
 * them). ARGV: n, mode ('live' | 'heal'), expected, next, target, P, channel.
 * live: p:<n> := next only if p:<n> is `expected` (or already `next`: a retried batch).
 * heal: h:<n> := next only if p:<n> is absent and h:<n> is `expected` (or `next`); once next reaches
 *       the target, p:<n> := next, h:<n> removed, and the sentinel set if every partition is there.
 * Returns {'ok'}, {'healed'} or {'moved', p:<n>, h:<n>} (the values found; nil when absent).
 */
const STEP_BODY = `
local pf, hf = 'p:' .. ARGV[1], 'h:' .. ARGV[1]
local cur = redis.call('HGET', KEYS[1], pf)
local h = redis.call('HGET', KEYS[1], hf)
if ARGV[2] == 'live' then
  if cur and (cur == ARGV[3] or cur == ARGV[4]) then
    redis.call('HSET', KEYS[1], pf, ARGV[4])
    return {'ok'}
  end
  return {'moved', cur or false, h or false}
end
if cur then
  if cur == ARGV[4] then return {'healed'} end
  return {'moved', cur, h or false}
end
if h ~= ARGV[3] and h ~= ARGV[4] then return {'moved', false, h or false} end
if tonumber(ARGV[4]) >= tonumber(ARGV[5]) then
  local P = partitionCount(tonumber(ARGV[6]), tonumber(ARGV[1]))
  redis.call('HSET', KEYS[1], pf, ARGV[4], 'partitions', string.format('%d', P))
  redis.call('HDEL', KEYS[1], hf)
  syncReady(P, ARGV[7])
  return {'healed'}
end
redis.call('HSET', KEYS[1], hf, ARGV[4])
return {'ok'}
`;
const STEP_LUA = `${LUA_SYNC_READY}${STEP_BODY}`;

/**
 * STEP_LUA for a Redis Cluster (ADR 0017), where the batch's applies resolved the generation in the
 * client: KEYS[3], KEYS[4] = generation pointer and the building one (same slot as the progress);
 * ARGV[8], ARGV[9] = the values the applies used ('0' / '' when absent). When either moved since,
 * nothing is written and {'regen'} tells the projection to run the batch again (idempotent).
 */
const CHECKED_STEP_LUA = `${LUA_SYNC_READY}
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[8] or (redis.call('GET', KEYS[4]) or '') ~= ARGV[9] then return {'regen'} end
${STEP_BODY}`;

/**
 * Lua for readers: the healing report when the sentinel is absent. Needs `progressKey` (a key name
 * passed in KEYS by the caller). Returns {'healing', restored, P} (P = -1 when not recorded).
 */
export const LUA_HEALING_STATUS = `
local function healingStatus(progressKey)
  local P = tonumber(redis.call('HGET', progressKey, 'partitions') or '-1')
  local restored = 0
  for n = 0, P - 1 do
    if redis.call('HEXISTS', progressKey, 'p:' .. n) == 1 then restored = restored + 1 end
  end
  return {'healing', restored, P}
end
`;

const STATUS_LUA = `${LUA_HEALING_STATUS}
if redis.call('EXISTS', KEYS[2]) == 1 then return {'ready'} end
return healingStatus(KEYS[1])
`;

/** Where a partition's progress stands in Redis (null = field absent). */
export interface PartitionProgress {
  /** p:<n> */
  next: number | null;
  /** h:<n> */
  heal: number | null;
}

export type HealStart =
  /** p:<n> exists (someone restored it meanwhile): continue live from `next` */
  | { kind: 'live'; next: number }
  /** nothing to apply (empty partition, or a resumed heal at its target): p:<n> = next written now */
  | { kind: 'healed'; next: number }
  /** apply from `from` (the log start, or where an interrupted heal stopped) up to the target */
  | { kind: 'heal'; from: number };

/** The progress update that goes with one batch of partition n. */
export interface ProgressStep {
  partition: number;
  mode: 'live' | 'heal';
  /** the value this projector read or last wrote: p:<n> when live, h:<n> when healing */
  expected: number;
  /** the batch's last offset + 1 */
  next: number;
  /** heal only: the high watermark taken when the heal started */
  target: number;
  /** P, the partition count of likes.counts */
  partitions: number;
}

export type ProgressOutcome =
  | { status: 'ok' }
  /** this batch finished the heal of its partition (p:<n> written, sentinel set if complete) */
  | { status: 'healed' }
  /** Redis holds something else than expected: re-seek to it (null = absent) */
  | { status: 'moved'; next: number | null; heal: number | null };

export interface ReadSideStatus {
  /** the sentinel exists (and, on a Redis Cluster, every master marker): reads are answered */
  complete: boolean;
  /** partitions with p:<n> (when not complete) */
  restored: number;
  /** P as recorded by a projector; null before any projector recorded it (fresh or just lost) */
  partitions: number | null;
  /** Redis Cluster master markers found missing (ADR 0025): those masters lost their data */
  lostMarkers?: readonly string[];
}

const CHECK = 'dtProgressCheck';
const START_HEAL = 'dtProgressStartHeal';
const STEP = 'dtProgressStep';
const STATUS = 'dtReadSideStatus';
const CHECKED_STEP = 'dtProgressStepChecked';
const GUARDED_START_HEAL = 'dtProgressStartHealGuarded';
type Reply = (string | number | null)[];
type Commands = Record<
  | typeof CHECK
  | typeof START_HEAL
  | typeof STEP
  | typeof STATUS
  | typeof CHECKED_STEP
  | typeof GUARDED_START_HEAL,
  (...args: string[]) => Promise<Reply>
>;

function define(client: Redis): void {
  const c = client as Redis & Partial<Commands>;
  if (typeof c[CHECK] === 'function') return;
  c.defineCommand(CHECK, { numberOfKeys: 2, lua: CHECK_LUA });
  c.defineCommand(START_HEAL, { numberOfKeys: 2, lua: START_HEAL_LUA });
  c.defineCommand(STEP, { numberOfKeys: 2, lua: STEP_LUA });
  c.defineCommand(STATUS, { numberOfKeys: 2, lua: STATUS_LUA });
  c.defineCommand(CHECKED_STEP, { numberOfKeys: 4, lua: CHECKED_STEP_LUA });
  c.defineCommand(GUARDED_START_HEAL, { numberOfKeys: 3, lua: GUARDED_START_HEAL_LUA });
}

const num = (v: string | number | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/** Defines the progress scripts on a client (idempotent); projection.ts queues STEP in its pipeline. */
export function defineProgressCommands(client: Redis): void {
  define(client);
}

/** Queues the progress step of a batch after its applies (same pipeline, so it runs after them). */
export function queueProgressStep(pipeline: ChainableCommander, prefix: string, step: ProgressStep): void {
  void (pipeline as unknown as Commands)[STEP](
    progressKey(prefix),
    readySentinelKey(prefix),
    ...stepArgs(step),
    readyChannel(prefix),
  );
}

/** A step's own arguments, in the order both progress scripts read them. */
function stepArgs(step: ProgressStep): string[] {
  return [String(step.partition), step.mode, String(step.expected), String(step.next), String(step.target), String(step.partitions)];
}

/** The generations a batch's applies used (ADR 0017): '0' / '' when the pointer was absent. */
export interface UsedGenerations {
  current: string;
  building: string;
}

/**
 * The progress step of a batch whose applies ran elsewhere (a Redis Cluster): runs after them, and
 * only if the generation pointers still hold what the applies used; 'regen' otherwise.
 */
export async function runCheckedProgressStep(
  client: Redis,
  prefix: string,
  step: ProgressStep,
  used: UsedGenerations,
): Promise<ProgressOutcome | 'regen'> {
  define(client);
  const reply = await (client as unknown as Commands)[CHECKED_STEP](
    progressKey(prefix),
    readySentinelKey(prefix),
    generationPointerKey(prefix),
    buildingPointerKey(prefix),
    ...stepArgs(step),
    readyChannel(prefix),
    used.current,
    used.building,
  );
  return reply[0] === 'regen' ? 'regen' : parseProgressOutcome(reply);
}

export function parseProgressOutcome(reply: Reply): ProgressOutcome {
  const [status, next, heal] = reply;
  if (status === 'ok') return { status: 'ok' };
  if (status === 'healed') return { status: 'healed' };
  if (status === 'moved') return { status: 'moved', next: num(next), heal: num(heal) };
  throw new Error(`unexpected progress reply ${JSON.stringify(reply)}`);
}

/**
 * The sentinel and how far a heal got, for readiness checks and tools. On a Redis Cluster a
 * complete read side is also checked for lost masters (ADR 0025): a missing marker makes it
 * incomplete here at once, before the projector has tripped the heal.
 */
export async function readSideStatus(client: Redis, prefix: string): Promise<ReadSideStatus> {
  define(client);
  const reply = await (client as unknown as Commands)[STATUS](progressKey(prefix), readySentinelKey(prefix));
  if (reply[0] === 'ready') {
    if (isCluster(client)) {
      const { lost } = await checkMasters(client, prefix);
      if (lost.length > 0) {
        const p = Number(await client.get(readySentinelKey(prefix)));
        return { complete: false, restored: 0, partitions: p > 0 ? p : null, lostMarkers: lost };
      }
    }
    return { complete: true, restored: 0, partitions: null };
  }
  const p = Number(reply[2]);
  return { complete: false, restored: Number(reply[1]), partitions: p > 0 ? p : null };
}

/** "read side healing: N of P partitions restored", the reason readiness checks and 503s give. */
export function healingReason(
  status: Pick<ReadSideStatus, 'restored' | 'partitions' | 'lostMarkers'>,
): string {
  const lost = status.lostMarkers?.length ?? 0;
  if (lost > 0)
    return `read side healing: ${lost === 1 ? 'a Redis Cluster master' : `${lost} Redis Cluster masters`} lost ${lost === 1 ? 'its' : 'their'} data (marker missing); the projector heals it from likes.counts`;
  return status.partitions === null
    ? 'read side healing: no partition restored yet (no projector has recorded its progress)'
    : `read side healing: ${status.restored} of ${status.partitions} partitions restored`;
}

/**
 * Marks a key prefix's read side complete for P partitions (p:<n> = 0 where absent, the sentinel
 * set), for tests and tools that write the projection without a projector. A projector started on
 * such a prefix resumes partition n from p:<n>.
 */
export async function markReadSideComplete(client: Redis, prefix: string, partitions: number): Promise<void> {
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new Error(`${partitions} is not a partition count`);
  if (isCluster(client)) await markMasters(client, prefix); // ADR 0025: reads check these from now on
  const tx = client.multi();
  for (let n = 0; n < partitions; n++) tx.hsetnx(progressKey(prefix), `p:${n}`, '0');
  tx.hset(progressKey(prefix), 'partitions', String(partitions));
  tx.set(readySentinelKey(prefix), String(partitions));
  tx.publish(readyChannel(prefix), String(partitions));
  const replies = await tx.exec();
  const failed = replies?.find(([err]) => err);
  if (!replies || failed) throw failed?.[0] ?? new Error('transaction discarded');
}

/**
 * The projector's side of the progress: where each owned partition stands, and the start of a heal.
 * `partitions` is P of likes.counts (as the projector sees it in Kafka).
 */
export interface ReadSideProgressOptions {
  /**
   * Redis Cluster (ADR 0025): called when a check found masters whose marker is missing (`tripped`:
   * this check removed the progress for it, so every partition heals) or marked masters.
   */
  onMasters?: (result: MasterGuardResult) => void;
  /** Redis Cluster: the master check failed (a master down, or the record moved); retried next time */
  onMastersError?: (err: unknown) => void;
}

export class ReadSideProgress {
  constructor(
    private readonly client: Redis,
    readonly prefix: string,
    readonly partitions: number,
    private readonly options: ReadSideProgressOptions = {},
  ) {
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw new Error(`${partitions} is not a partition count`);
    define(client);
  }

  private get commands(): Commands {
    return this.client as unknown as Commands;
  }

  /**
   * Redis Cluster (ADR 0025): a master whose marker is missing lost its data; the progress goes
   * (every partition heals, as after a full loss), and masters without a marker get one. A check
   * that cannot finish (a master down) changes nothing and is only reported.
   */
  private async guardMasters(): Promise<void> {
    if (!isCluster(this.client)) return;
    try {
      const result = await guardMasters(this.client, this.prefix);
      if (result.lost.length > 0 || result.marked.length > 0) this.options.onMasters?.(result);
    } catch (err) {
      this.options.onMastersError?.(err);
    }
  }

  /**
   * p:<n> and h:<n> of each partition, in one round trip; also keeps the sentinel in line with them.
   * On a Redis Cluster the masters are checked first (a lost master removes the progress: the
   * partitions then come back without p:<n>, and heal).
   */
  async positions(partitions: readonly number[]): Promise<Map<number, PartitionProgress>> {
    await this.guardMasters();
    const reply = await this.commands[CHECK](
      progressKey(this.prefix),
      readySentinelKey(this.prefix),
      String(this.partitions),
      readyChannel(this.prefix),
      ...partitions.map(String),
    );
    const out = new Map<number, PartitionProgress>();
    partitions.forEach((p, i) => out.set(p, { next: num(reply[2 * i]), heal: num(reply[2 * i + 1]) }));
    return out;
  }

  /** Starts (or resumes) the heal of a partition whose p:<n> is missing; see START_HEAL_LUA. */
  async startHeal(partition: number, low: number, high: number): Promise<HealStart> {
    const args = [
      String(partition),
      String(low),
      String(high),
      String(this.partitions),
      readyChannel(this.prefix),
    ];
    let reply: Reply;
    if (isCluster(this.client)) {
      // every master marked before the heal writes anything (ADR 0025)
      const guarded = () =>
        this.commands[GUARDED_START_HEAL](
          progressKey(this.prefix),
          readySentinelKey(this.prefix),
          mastersRecordKey(this.prefix),
          ...args,
        );
      reply = await guarded();
      if (reply[0] === 'unmarked') {
        await markMasters(this.client, this.prefix);
        reply = await guarded();
        if (reply[0] === 'unmarked')
          throw new Error(
            'the Redis Cluster masters are not marked yet: the heal starts at the next attempt',
          );
      }
    } else {
      reply = await this.commands[START_HEAL](
        progressKey(this.prefix),
        readySentinelKey(this.prefix),
        ...args,
      );
    }
    const [kind, value] = reply;
    if (kind === 'live') return { kind, next: Number(value) };
    if (kind === 'healed') return { kind, next: Number(value) };
    if (kind === 'heal') return { kind, from: Number(value) };
    throw new Error(`unexpected heal reply ${String(kind)}`);
  }
}
