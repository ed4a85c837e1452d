import type { ChildProcess } from 'node:child_process';
import { freePort, spawnBuilt, untilStatus } from '@doubletap/testing';

export interface HelloWorld {
  child: ChildProcess;
  url: string;
  /** resolves once it answers POST /hello with 202; fails when it exits first or does not come up */
  ready(): Promise<void>;
}

/** Starts the NestJS-on-Fastify hello-world (bench/hello-app.ts) that the HTTP benchmarks compare with. */
export async function spawnHelloWorld(onEarlyExit?: (why: string) => void): Promise<HelloWorld> {
  const port = await freePort();
  const child = spawnBuilt('bench/hello-app.js', { BENCH_HELLO_PORT: String(port) }, onEarlyExit);
  const url = `http://127.0.0.1:${port}`;
  return { child, url, ready: () => untilStatus(`${url}/hello`, (s) => s === 202, 'hello', { child, method: 'POST' }) };
}
