import { formatDuration, Progress } from './progress';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => (writes.push(s), true) } };
}

describe('Progress', () => {
  it('line mode: prints a plain line only every everyMs, with rate over the recent window and ETA', () => {
    let now = 0;
    const { writes, stream } = sink(false);
    const p = new Progress({ label: 'read-side p0-11', total: 10_000, stream, everyMs: 5000, now: () => now, timer: false });
    now = 1000;
    p.add(1000);
    p.tick();
    expect(writes).toEqual([]); // not due yet
    now = 5000;
    p.add(4000);
    p.tick();
    expect(writes).toEqual(['read-side p0-11: 5,000/10,000 (50.0%) 1,000 records/s ETA 5s\n']);
    expect(writes[0]).not.toContain('\r');
    // the rate follows the recent speed: 5000 records in the last 5 s... then a burst
    now = 6000;
    p.add(4000);
    p.tick();
    expect(writes).toHaveLength(1);
    expect(Math.round(p.rate())).toBe(1600); // (9000 - 1000) records over the window 1 s..6 s
    expect(p.eta()).toBeCloseTo(1000 / 1600, 5);
    const summary = p.finish();
    expect(summary).toEqual({ records: 9000, seconds: 6, recordsPerSecond: 1500 });
    expect(writes[1]).toBe('read-side p0-11: done, 9,000 records in 6.0s (1,500 records/s)\n');
  });

  it('terminal mode: redraws one line in place with a bar, and ends it with a newline', () => {
    let now = 0;
    const { writes, stream } = sink(true);
    const p = new Progress({ label: 'state', total: 100, stream, now: () => now, timer: false });
    now = 2000;
    p.add(50);
    p.tick();
    expect(writes[0]).toBe('\r\x1b[2K[############------------] state: 50/100 (50.0%) 25 records/s ETA 2s');
    p.finish();
    expect(writes[1].startsWith('\r\x1b[2Kstate: done, 50 records')).toBe(true);
    expect(writes[1].endsWith('\n')).toBe(true);
  });

  it('without a total: no bar, no ETA', () => {
    let now = 0;
    const { writes, stream } = sink(true);
    const p = new Progress({ label: 'verify', stream, now: () => now, timer: false });
    now = 1000;
    p.add(10);
    p.tick();
    expect(writes[0]).toBe('\r\x1b[2Kverify: 10 10 records/s');
  });

  it('formats durations', () => {
    expect(formatDuration(4.4)).toBe('4s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 60 * 7)).toBe('3h07m');
    expect(formatDuration(Number.NaN)).toBe('?');
  });
});
