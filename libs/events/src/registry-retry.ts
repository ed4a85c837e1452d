import { RegistryUnavailableError } from './codec-errors';

export interface RegistryRetryOptions {
  /** stop retrying (rethrow the last error) when this aborts */
  signal?: AbortSignal;
  /** stop retrying this long after the first failure (default: never) */
  giveUpAfterMs?: number;
  /** first and largest pause between attempts (default 200 ms and 5 s) */
  initialMs?: number;
  maxMs?: number;
  onRetry?: (error: RegistryUnavailableError, attempt: number) => void;
}

/**
 * Runs `fn` again, with backoff, for as long as it throws RegistryUnavailableError: a registry
 * failure is waited out, never taken for a property of the record. Any other error (an
 * InvalidEventError: the record is poison) is thrown at once.
 */
export async function retryWhileRegistryUnavailable<T>(
  fn: () => Promise<T>,
  opts: RegistryRetryOptions = {},
): Promise<T> {
  const started = Date.now();
  let delay = opts.initialMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof RegistryUnavailableError)) throw e;
      const expired = opts.giveUpAfterMs !== undefined && Date.now() - started >= opts.giveUpAfterMs;
      if (expired || opts.signal?.aborted) throw e;
      opts.onRetry?.(e, attempt);
    }
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
    delay = Math.min(opts.maxMs ?? 5000, delay * 2);
  }
}
