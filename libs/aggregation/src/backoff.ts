/** Exponential backoff with jitter, for waits on a dependency that is down. */
export class Backoff {
  private next: number;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5000,
  ) {
    this.next = initialMs;
  }

  /** Waits, then doubles the next wait (up to the max). */
  async wait(): Promise<void> {
    const ms = this.next * (0.5 + Math.random() / 2);
    this.next = Math.min(this.maxMs, this.next * 2);
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  reset(): void {
    this.next = this.initialMs;
  }
}
