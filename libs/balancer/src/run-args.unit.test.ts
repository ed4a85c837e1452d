import { parseRunArgs, RUN_USAGE } from './run-args';

describe('parseRunArgs', () => {
  it('nothing: the defaults (one of each, the monitor, the balancer decided by the count)', () => {
    expect(parseRunArgs([])).toEqual({ counts: {}, only: [], help: false });
  });

  it('counts, --no-monitor, --lb / --no-lb, --flag=value', () => {
    expect(
      parseRunArgs(['--api', '3', '--aggregators=2', '--projectors', '0', '--no-monitor', '--lb']),
    ).toEqual({
      counts: { api: 3, aggregator: 2, projector: 0 },
      monitor: false,
      lb: true,
      only: [],
      help: false,
    });
    expect(parseRunArgs(['--api', '2', '--no-lb']).lb).toBe(false);
  });

  it('app names select apps, as before (`node scripts/run-apps.js api aggregator`)', () => {
    expect(parseRunArgs(['api', 'aggregator', '--api', '2'])).toEqual({
      counts: { api: 2 },
      only: ['api', 'aggregator'],
      help: false,
    });
  });

  it('--help and -h', () => {
    expect(parseRunArgs(['--help']).help).toBe(true);
    expect(parseRunArgs(['-h', '--api', '2']).help).toBe(true);
    for (const flag of [
      '--api N',
      '--aggregators N',
      '--projectors N',
      '--no-monitor',
      '--lb',
      '--no-lb',
      '-h, --help',
    ])
      expect(RUN_USAGE).toContain(flag);
  });

  it('refuses what it does not know, with the reason', () => {
    expect(() => parseRunArgs(['--api'])).toThrow('--api needs a whole number (got nothing)');
    expect(() => parseRunArgs(['--api', 'three'])).toThrow("--api needs a whole number (got 'three')");
    expect(() => parseRunArgs(['--aggregators=-1'])).toThrow("--aggregators needs a whole number (got '-1')");
    expect(() => parseRunArgs(['--lb=yes'])).toThrow('--lb takes no value');
    expect(() => parseRunArgs(['--replicas', '3'])).toThrow("unknown argument '--replicas'");
    expect(() => parseRunArgs(['gateway'])).toThrow("unknown argument 'gateway'");
  });
});
