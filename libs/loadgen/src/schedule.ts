/**
 * Open-loop arrival schedules. A schedule is a pure function of the rate profile: the i-th request
 * is due at the time where the integral of the rate reaches i, whatever the answers to earlier
 * requests were (or whether they came at all). Latency is then measured from that due time, so a
 * stalled server is charged for the wait its clients would see (no coordinated omission).
 */

/** One phase: the rate moves linearly from `fromRate` to `toRate` requests/s over `seconds`. */
export interface RatePhase {
  seconds: number;
  fromRate: number;
  toRate: number;
}

export type RateProfile = readonly RatePhase[];

/** Ramp 0 → rate over rampSeconds, then hold the rate for holdSeconds (the viral post). */
export function rampAndHold(rate: number, rampSeconds: number, holdSeconds: number): RateProfile {
  const phases: RatePhase[] = [];
  if (rampSeconds > 0) phases.push({ seconds: rampSeconds, fromRate: 0, toRate: rate });
  if (holdSeconds > 0) phases.push({ seconds: holdSeconds, fromRate: rate, toRate: rate });
  return phases;
}

export function profileSeconds(profile: RateProfile): number {
  return profile.reduce((s, p) => s + p.seconds, 0);
}

/** The offered rate (requests/s) at `t` seconds into the profile (0 after its end). */
export function rateAt(profile: RateProfile, t: number): number {
  let start = 0;
  for (const p of profile) {
    if (t < start + p.seconds) return p.fromRate + ((p.toRate - p.fromRate) * (t - start)) / p.seconds;
    start += p.seconds;
  }
  return 0;
}

/** How many requests the profile schedules in total (the integral of the rate, floored). */
export function expectedCount(profile: RateProfile): number {
  return Math.floor(profile.reduce((s, p) => s + ((p.fromRate + p.toRate) / 2) * p.seconds, 0) + 1e-9);
}

/**
 * Due times in milliseconds from the start, ascending: request k (k = 1, 2, …) is due where the
 * integral of the rate reaches k. Bounded by the profile's length and by `maxCount`.
 */
export function* arrivalTimes(profile: RateProfile, maxCount = Number.POSITIVE_INFINITY): Generator<number> {
  let emitted = 0;
  let start = 0; // seconds at the start of the phase
  let before = 0; // requests scheduled by the integral up to the phase start
  for (const p of profile) {
    if (p.seconds <= 0) continue;
    const a = (p.toRate - p.fromRate) / p.seconds; // rate slope, requests/s²
    const area = ((p.fromRate + p.toRate) / 2) * p.seconds;
    // the k-th request lies in this phase when before < k <= before + area
    for (let k = emitted + 1; k <= before + area + 1e-9; k++) {
      if (emitted >= maxCount) return;
      const need = k - before; // requests into this phase
      // solve fromRate·x + a·x²/2 = need for x in [0, seconds]
      const x =
        Math.abs(a) < 1e-12
          ? need / p.fromRate
          : (-p.fromRate + Math.sqrt(Math.max(0, p.fromRate * p.fromRate + 2 * a * need))) / a;
      emitted++;
      yield (start + Math.min(Math.max(x, 0), p.seconds)) * 1000;
    }
    start += p.seconds;
    before += area;
  }
}
