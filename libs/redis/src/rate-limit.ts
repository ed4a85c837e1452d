import { createHash } from 'node:crypto';
import type { Redis } from './client';

/**
 * Token bucket per key, atomic in Redis (one Lua script, the server's clock, so every api replica
 * shares one bucket per user). `ratePerSec` tokens are added per second up to `burst`; each request
 * takes one. The bucket expires once it would be full again, so idle users cost no memory.
 * Returns {allowed, remaining tokens, retryAfterMs until one token is available}.
 */
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
local retry = 0
if allowed == 0 then
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
return {allowed, math.floor(tokens), retry}
`;
const SHA = createHash('sha1').update(SCRIPT).digest('hex');

export interface RateDecision {
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
}

export class TokenBucket {
  constructor(
    private readonly redis: Redis,
    private readonly ratePerSec: number,
    private readonly burst: number,
  ) {
    if (!(ratePerSec > 0)) throw new Error('TokenBucket needs ratePerSec > 0');
    if (!(burst >= 1)) throw new Error('TokenBucket needs burst >= 1');
  }

  async take(key: string): Promise<RateDecision> {
    const args = [String(this.ratePerSec), String(this.burst)];
    let raw: unknown;
    try {
      raw = await this.redis.evalsha(SHA, 1, key, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.includes('NOSCRIPT')) throw e;
      raw = await this.redis.eval(SCRIPT, 1, key, ...args);
    }
    const [allowed, remaining, retryAfterMs] = raw as [number, number, number];
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }
}
