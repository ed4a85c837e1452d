import { arrivalTimes, expectedCount, profileSeconds, rampAndHold, rateAt } from './schedule';

describe('open-loop schedule', () => {
  it('a constant rate spaces requests evenly', () => {
    const times = [...arrivalTimes(rampAndHold(100, 0, 1))];
    expect(times).toHaveLength(100);
    expect(times[0]).toBeCloseTo(10);
    expect(times[99]).toBeCloseTo(1000);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeCloseTo(10);
  });

  it('a ramp schedules k requests by the time the integral of the rate reaches k', () => {
    // 0 → 200/s over 2 s: the integral is 50·t², 200 requests in the ramp, then 200/s for 1 s
    const profile = rampAndHold(200, 2, 1);
    const times = [...arrivalTimes(profile)];
    expect(expectedCount(profile)).toBe(400);
    expect(times).toHaveLength(400);
    expect(times[49]).toBeCloseTo(1000); // the 50th request at t = 1 s
    expect(times[199]).toBeCloseTo(2000);
    expect(times[399]).toBeCloseTo(3000);
    // ascending, and denser as the rate grows
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
    expect(times[20] - times[19]).toBeGreaterThan(times[190] - times[189]);
    expect(rateAt(profile, 1)).toBe(100);
    expect(rateAt(profile, 2.5)).toBe(200);
    expect(rateAt(profile, 3)).toBe(0);
    expect(profileSeconds(profile)).toBe(3);
  });

  it('is bounded by maxCount', () => {
    expect([...arrivalTimes(rampAndHold(1000, 0, 60), 5)]).toHaveLength(5);
  });

  it('is a pure function of the profile: answers cannot thin out the offered load', () => {
    // the generator takes no input; consuming it in steps interleaved with other work (the runner
    // handling answers) yields the same due times as consuming it at once
    const profile = rampAndHold(300, 1, 1);
    const atOnce = [...arrivalTimes(profile)];
    const stepped: number[] = [];
    const it = arrivalTimes(profile);
    for (let r = it.next(); !r.done; r = it.next()) {
      stepped.push(r.value);
      [...arrivalTimes(rampAndHold(50, 0, 1))].forEach(() => undefined);
    }
    expect(stepped).toEqual(atOnce);
  });
});
