/**
 * Exponential backoff with jitter, for waits on a dependency that is down. A wait ends early when
 * `stop` is aborted (the partition is being given up): a revocation never waits out a backoff.
 */
export class Backoff {
  private next: number;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5000,
    private readonly stop?: AbortSignal,
  ) {
    this.next = initialMs;
  }

  /** Waits (or not at all once `stop` is aborted), then doubles the next wait (up to the max). */
  async wait(): Promise<void> {
    const ms = this.next * (0.5 + Math.random() / 2);
    this.next = Math.min(this.maxMs, this.next * 2);
    const stop = this.stop;
    if (stop?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stop?.addEventListener('abort', done, { once: true });
    });
  }

  reset(): void {
    this.next = this.initialMs;
  }
}
