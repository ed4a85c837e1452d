import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * Random bits come from a pooled buffer refilled by one CSPRNG call every POOL_BYTES bytes (the
 * same approach as node's crypto.randomUUID): one randomBytes(16) per id cost ~2 µs of OpenSSL
 * call overhead and was a quarter of the api's CPU time on the like path (BENCHMARKS.md "## Ingest").
 * Every byte of the pool is handed out once.
 */
const POOL_BYTES = 16 * 1024;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** Offset of `n` fresh random bytes in `pool`. */
function random(n: number): number {
  if (poolOffset + n > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, version 7, a 12-bit counter that keeps ids minted in
 * the same millisecond in order, variant 10, then random bits.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now <= lastMs) {
    sequence = (sequence + 1) & 0xfff;
    if (sequence === 0) lastMs += 1; // counter wrapped: borrow the next millisecond
    now = lastMs;
  } else {
    lastMs = now;
    const r = random(2);
    sequence = ((pool[r] << 8) | pool[r + 1]) & 0x3ff; // random start, headroom to count up
  }
  const time = now.toString(16).padStart(12, '0'); // 48 bits: exactly 12 hex digits until year 10889
  const r = random(8);
  const p = pool;
  return (
    `${time.slice(0, 8)}-${time.slice(8, 12)}-${HEX[0x70 | (sequence >> 8)]}${HEX[sequence & 0xff]}-` +
    `${HEX[0x80 | (p[r] & 0x3f)]}${HEX[p[r + 1]]}-` +
    `${HEX[p[r + 2]]}${HEX[p[r + 3]]}${HEX[p[r + 4]]}${HEX[p[r + 5]]}${HEX[p[r + 6]]}${HEX[p[r + 7]]}`
  );
}

export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
