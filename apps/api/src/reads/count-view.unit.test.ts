import { toView } from './count-view';

describe('toView', () => {
  it('shows the count, its label and asOf as ISO text (the same text on every read of the same instant)', () => {
    const at = Date.UTC(2026, 11, 4, 17, 0, 0, 123);
    const first = toView({ postId: 'p1', count: 12_345, asOf: at });
    expect(first).toEqual({ postId: 'p1', count: 12_345, display: '12.3K', asOf: '2026-12-04T17:00:00.123Z' });
    expect(toView({ postId: 'p2', count: 7, asOf: at }).asOf).toBe('2026-12-04T17:00:00.123Z');
    expect(toView({ postId: 'p3', count: 0, asOf: null })).toEqual({ postId: 'p3', count: 0, display: '0', asOf: null });
  });

  it('stays right past the cache bound', () => {
    const base = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 70_000; i++) toView({ postId: 'p', count: 1, asOf: base + i });
    expect(toView({ postId: 'p', count: 1, asOf: base + 1 }).asOf).toBe(new Date(base + 1).toISOString());
    expect(toView({ postId: 'p', count: 1, asOf: base + 69_999 }).asOf).toBe(new Date(base + 69_999).toISOString());
  });
});
