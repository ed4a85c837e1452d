import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@doubletap/testing';

export interface VerifyAnswer {
  ok: boolean;
  events: number;
  posts: number;
  mismatches: Array<{ postId: string; expected: number; actual: number }>;
}

/**
 * `doubletap verify --api-url <api> --json`, as an operator runs it (the built CLI, the pipeline's
 * environment): a recount of likes.events compared with what the read API serves.
 */
export function verifyWithCli(env: Record<string, string>, apiUrl: string): Promise<VerifyAnswer> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'doubletap.js'), 'verify', '--api-url', apiUrl, '--json'],
      { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        // exit 1 with a document on stdout is an answer (mismatches); without one it is a failure
        try {
          resolve(JSON.parse(stdout) as VerifyAnswer);
        } catch {
          reject(new Error(`doubletap verify failed: ${(stderr.trim().split('\n').slice(-3).join(' ') || error?.message) ?? 'no output'}`));
        }
      },
    );
  });
}
