import { evaluateGroup, evaluatePartition, type Observation } from '@doubletap/lag';

const obs = (at: number, committed: number | null, logEnd: number, active = true): Observation => ({ at, committed, logEnd, active });
const series = (points: Array<[number | null, number]>, active = true) => points.map(([c, e], i) => obs(i * 5000, c, e, active));

describe('partition status rules', () => {
  it('OK: an idle partition that is caught up', () => {
    expect(evaluatePartition(series([[100, 100], [100, 100], [100, 100]])).status).toBe('OK');
  });

  it('OK: an idle partition with no consumer but nothing to read', () => {
    expect(evaluatePartition(series([[50, 50], [50, 50]], false)).status).toBe('OK');
  });

  it('STOP: no live consumer, lag, committed offset not moving', () => {
    const v = evaluatePartition(series([[100, 150], [100, 180], [100, 200]], false));
    expect(v.status).toBe('STOP');
  });

  it('STALL: consumer alive but stuck with lag', () => {
    expect(evaluatePartition(series([[100, 150], [100, 160], [100, 170]])).status).toBe('STALL');
  });

  it('REWIND: committed offset went backwards', () => {
    const v = evaluatePartition(series([[500, 600], [0, 600], [40, 600]]));
    expect(v.status).toBe('REWIND');
    expect(v.reason).toContain('500 to 0');
  });

  it('OK: a slow consumer catching up (lag shrinking)', () => {
    expect(evaluatePartition(series([[0, 1000], [300, 1100], [700, 1150], [1000, 1200]])).status).toBe('OK');
  });

  it('WARN: consuming but falling behind at every step', () => {
    expect(evaluatePartition(series([[0, 100], [50, 200], [100, 320], [150, 450]])).status).toBe('WARN');
  });

  it('OK, not WARN, when the lag growth is not sustained', () => {
    expect(evaluatePartition(series([[0, 100], [50, 200], [200, 250], [260, 400]])).status).toBe('OK');
  });

  it('ERR: the offsets could not be read', () => {
    expect(evaluatePartition([{ ...obs(0, 1, 2), error: 'leader not available' }]).status).toBe('ERR');
  });

  it('a never-committed partition with data counts its whole log as lag', () => {
    expect(evaluatePartition(series([[null, 10], [null, 10]], true)).status).toBe('STALL');
  });
});

describe('group status', () => {
  it('is the worst partition', () => {
    expect(evaluateGroup(['OK', 'OK'])).toBe('OK');
    expect(evaluateGroup(['OK', 'REWIND'])).toBe('WARN');
    expect(evaluateGroup(['WARN', 'STALL'])).toBe('ERR');
    expect(evaluateGroup(['OK', 'STOP'])).toBe('ERR');
    expect(evaluateGroup([])).toBe('OK');
  });
});
