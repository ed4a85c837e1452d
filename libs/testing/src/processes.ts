import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { appOfScript, runtimeEnv } from '@doubletap/config';
import { REPO_ROOT as ROOT } from './stack';

/** A TCP port nobody listens on right now (127.0.0.1). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      server.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * Starts a compiled entry point (`dist/<script>`, e.g. `apps/api/src/main.js`) as its own Node
 * process with the lib aliases resolved; stdout is dropped, stderr is passed through.
 */
export function spawnBuilt(
  script: string,
  env: Record<string, string>,
  onEarlyExit?: (why: string) => void,
  options: { nodeArgs?: string[]; stdout?: 'ignore' | 'pipe' } = {},
): ChildProcess {
  const args = [...(options.nodeArgs ?? []), '-r', join(ROOT, 'scripts', 'paths.js'), join(ROOT, 'dist', script)];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    // the app's runtime profile (heap cap, malloc arenas) as `npm start` and the deploy files use it
    env: { ...process.env, ...env, ...runtimeEnv(appOfScript(script) ?? '', { ...process.env, ...env }) },
    stdio: ['ignore', options.stdout ?? 'ignore', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL')
      onEarlyExit?.(`${script} exited early (code ${code}, signal ${signal})`);
  });
  return child;
}

/** Polls `url` until `ok(status)`; fails after timeoutMs, or at once when `child` has exited. */
export async function untilStatus(
  url: string,
  ok: (status: number) => boolean,
  what: string,
  options: { method?: string; timeoutMs?: number; child?: ChildProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (options.child && (options.child.exitCode !== null || options.child.signalCode !== null))
      throw new Error(`${what} exited before it was ready`);
    try {
      if (ok((await fetch(url, { method: options.method ?? 'GET' })).status)) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${options.timeoutMs ?? 30_000} ms (${url})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

/** Peak resident set size (VmHWM, bytes) of a live process, or null where /proc is not available. */
/**
 * A live process's resident memory split by kind (/proc/<pid>/status): anonymous (heap, native
 * allocations: what the process itself holds) and file-backed (mapped files: its binary, and e.g.
 * LevelDB's read-only mmaps of table files, which are page cache the kernel can reclaim).
 */
export function rssKinds(pid: number | undefined): { anonBytes: number; fileBytes: number } | null {
  if (pid === undefined) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { anonBytes: kb('RssAnon'), fileBytes: kb('RssFile') };
  } catch {
    return null;
  }
}

export function peakRssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
