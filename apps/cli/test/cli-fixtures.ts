import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LikeAction } from '@doubletap/events';
import { REPO_ROOT } from '@doubletap/testing';

export const CLI = join(REPO_ROOT, 'bin/doubletap.js');

export interface Action {
  postId: string;
  userId: string;
  action: LikeAction;
}

/** Deterministic (mulberry32) likes and unlikes over a small id space: many double taps and stray unlikes. */
export function randomActions(n: number, seed: number, posts: number, users: number): Action[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => ({
    postId: `post-${Math.floor(next() * posts)}`,
    userId: `u${Math.floor(next() * users)}`,
    action: next() < 0.7 ? ('LIKE' as const) : ('UNLIKE' as const),
  }));
}

export { groundTruth, produceActions } from '@doubletap/testing';

export interface AppProc {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  logs: string[];
  stop(): Promise<void>;
}

/** Spawns a built app (dist/apps/<app>/src/main.js); ready once it logged `readyMsg`. */
export function startApp(app: 'aggregator' | 'projector', env: Record<string, string>, readyMsg: string): AppProc {
  const child = spawn(process.execPath, ['-r', './scripts/paths.js', join(REPO_ROOT, `dist/apps/${app}/src/main.js`)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line);
      if (line.includes(`"msg":"${readyMsg}"`)) resolve();
    });
    child.once('exit', () => reject(new Error(`${app} exited before it was ready:\n${logs.slice(-20).join('\n')}`)));
  });
  ready.catch(() => undefined);
  createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
  return {
    child,
    ready,
    exited,
    logs,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI asynchronously (the test keeps reading meanwhile). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
