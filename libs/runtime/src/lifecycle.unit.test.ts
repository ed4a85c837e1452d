import { runWorker, type ProcessPort, type Stoppable } from './lifecycle';

/** A process that records exits and lets the test raise signals. */
function fakeProcess(env: Record<string, string> = { JWT_SECRET: 'x'.repeat(32), LOG_LEVEL: 'silent' }) {
  const listeners = new Map<string, (() => void)[]>();
  const exits: number[] = [];
  let stderr = '';
  let exited!: (code: number) => void;
  const exit = new Promise<number>((resolve) => (exited = resolve));
  const proc: ProcessPort = {
    env,
    on: (signal, listener) => listeners.set(signal, [...(listeners.get(signal) ?? []), listener]),
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
    stderr: { write: (text: string) => (stderr += text) },
  };
  return {
    proc,
    exits,
    exit,
    stderr: () => stderr,
    signal: (name: 'SIGTERM' | 'SIGINT') => (listeners.get(name) ?? []).forEach((l) => l()),
  };
}

function app(stopMs = 0) {
  const calls: string[] = [];
  const stoppable: Stoppable = {
    stop: async () => {
      calls.push('stop');
      await new Promise((r) => setTimeout(r, stopMs).unref());
      calls.push('stopped');
    },
  };
  return { calls, stoppable };
}

describe('runWorker', () => {
  it('a SIGTERM stops the app once and exits 0; later signals are ignored', async () => {
    const p = fakeProcess();
    const a = app(20);
    await runWorker({ name: 't', process: p.proc, graceMs: () => 5000, start: async () => a.stoppable });
    p.signal('SIGTERM');
    p.signal('SIGINT');
    expect(await p.exit).toBe(0);
    expect(a.calls).toEqual(['stop', 'stopped']);
    expect(p.exits).toEqual([0]);
  });

  it('a signal during start stops the app as soon as it has started', async () => {
    const p = fakeProcess();
    const a = app();
    let release!: () => void;
    const running = runWorker({
      name: 't',
      process: p.proc,
      graceMs: () => 5000,
      start: () => new Promise<Stoppable>((resolve) => (release = () => resolve(a.stoppable))),
    });
    p.signal('SIGINT');
    expect(a.calls).toEqual([]);
    release();
    await running;
    expect(await p.exit).toBe(0);
    expect(a.calls).toEqual(['stop', 'stopped']);
  });

  it('a fatal error stops the app and exits 1', async () => {
    const p = fakeProcess();
    const a = app();
    let fatal!: (e: Error) => void;
    await runWorker({
      name: 't',
      process: p.proc,
      graceMs: () => 5000,
      start: async (ctx) => {
        fatal = ctx.fatal;
        return a.stoppable;
      },
    });
    fatal(new Error('store cannot be opened'));
    expect(await p.exit).toBe(1);
    expect(a.calls).toEqual(['stop', 'stopped']);
  });

  it('a stop that outlasts the grace period exits 1', async () => {
    const p = fakeProcess();
    const a = app(5000);
    await runWorker({ name: 't', process: p.proc, graceMs: () => 30, start: async () => a.stoppable });
    p.signal('SIGTERM');
    expect(await p.exit).toBe(1);
    expect(a.calls).toEqual(['stop']);
  });

  it('a failed start exits 1 with the reason on stderr', async () => {
    const p = fakeProcess();
    await runWorker({ name: 'svc', process: p.proc, graceMs: () => 5000, start: async () => Promise.reject(new Error('topic likes.events does not exist')) });
    expect(await p.exit).toBe(1);
    expect(p.stderr()).toMatch(/^svc: Error: topic likes.events does not exist/);
  });

  it('a configuration error is printed without a stack and exits 1 before anything starts', async () => {
    const p = fakeProcess({ JWT_SECRET: 'x'.repeat(32), API_PORT: 'eighty' });
    let started = false;
    await runWorker({
      name: 'api',
      process: p.proc,
      graceMs: () => 5000,
      start: async () => {
        started = true;
        return app().stoppable;
      },
    });
    expect(await p.exit).toBe(1);
    expect(started).toBe(false);
    expect(p.stderr()).toContain('API_PORT=eighty is not an integer');
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
