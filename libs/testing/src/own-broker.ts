import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './stack';

const exec = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts', 'stack', 'stack.sh');
const SHARED_STACK = process.env.DOUBLETAP_STACK_DIR ?? join(REPO_ROOT, '.stack');

/** A free port below the ephemeral range (the stack script's advice), and the one after it. */
async function portPair(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const port = 21000 + 2 * Math.floor(Math.random() * 3000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
}

/**
 * A single Kafka broker of a test's own, to pause or stop without disturbing any other test: the
 * stack script under a stack dir and ports of its own, sharing only the fetched Kafka distribution.
 * Every signal goes through the script (by its pid file); `stop()` takes down only what it started.
 */
export class OwnBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'doubletap-own-broker-'));
  private env: Record<string, string> = {};
  address = '';

  async start(): Promise<void> {
    symlinkSync(join(SHARED_STACK, 'dist'), join(this.dir, 'dist'));
    const port = await portPair();
    this.address = `127.0.0.1:${port}`;
    this.env = {
      DOUBLETAP_STACK_DIR: this.dir,
      DOUBLETAP_KAFKA_PORT: String(port),
      DOUBLETAP_KAFKA_CONTROLLER_PORT: String(port + 1),
      DOUBLETAP_KAFKA_HEAP: '256m',
    };
    await this.stack('fault', 'start', 'kafka');
  }

  /** SIGSTOP: the broker keeps its connections and answers nothing. */
  pause = () => this.stack('fault', 'pause', 'kafka');
  resume = () => this.stack('fault', 'resume', 'kafka');

  /** Stops the broker by its pid file (the script's `down` touches only what this stack dir started). */
  async stop(): Promise<void> {
    if (this.address) await this.stack('down').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async stack(...args: string[]): Promise<void> {
    await exec('bash', [SCRIPT, ...args], { env: { ...process.env, ...this.env }, timeout: 180_000 });
  }
}

/** A broker of the calling test file's own: started before its tests, resumed and stopped after them (jest hooks). */
export function ownBrokerForFile(): OwnBroker {
  // jest's globals, read when a test file calls this (the library itself is also loaded by benches)
  type Hook = (fn: () => Promise<unknown>, timeoutMs?: number) => void;
  const { beforeAll, afterAll } = globalThis as unknown as { beforeAll: Hook; afterAll: Hook };
  const broker = new OwnBroker();
  beforeAll(() => broker.start(), 240_000);
  afterAll(async () => {
    await broker.resume().catch(() => undefined);
    await broker.stop();
  }, 120_000);
  return broker;
}
