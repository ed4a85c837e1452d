import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@doubletap/testing';

/**
 * `npm start` ends in `node scripts/run-apps.js` (scripts/start.sh), a plain node script that loads
 * the compiled libs: it must resolve their @doubletap/<lib> imports itself. It did not from
 * 2026-12-03 (libs/balancer began importing libs/problems) to 2026-12-04, and `npm start` died
 * before starting anything; nothing tested the script as it is run.
 */
describe('scripts/run-apps.js, as npm start runs it', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'run-apps.js'), ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30000,
    });

  it('loads the compiled libs and prints its usage with --help (exit 0)', () => {
    const out = run('--help');
    expect(out.stderr).not.toMatch(/Cannot find module/);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^usage: npm start -- \[options\]/);
  });

  it('refuses an unknown option with its usage (exit 2), before starting anything', () => {
    const out = run('--no-such-option');
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/^run-apps: /);
    expect(out.stderr).toMatch(/usage: npm start/);
  });
});
