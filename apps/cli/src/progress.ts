/**
 * Progress of long work on stderr (stdout stays the command's result, one JSON document with --json).
 * On a terminal: one line redrawn in place, a bar with records/s and ETA. Otherwise (logs, CI, pipes):
 * a plain line every `everyMs`. The rate is measured over the last few seconds, so the ETA follows
 * the current speed rather than the average since the start.
 */
export interface ProgressOptions {
  label: string;
  /** records expected; unknown = no bar and no ETA */
  total?: number;
  /** default process.stderr */
  stream?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };
  /** force terminal (true) or line (false) mode; default: stream.isTTY */
  tty?: boolean;
  /** line mode: ms between lines (default 5000); terminal mode redraws every 200 ms */
  everyMs?: number;
  now?: () => number;
  /** false: no timer (the caller calls tick(), as tests do) */
  timer?: boolean;
}

const WINDOW_MS = 5000;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');

export class Progress {
  private done = 0;
  private readonly startedAt: number;
  private readonly samples: Array<{ at: number; done: number }> = [];
  private lastLineAt: number;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private timer?: NodeJS.Timeout;
  private drawn = false;
  private total?: number;
  private label: string;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.total = options.total;
    this.label = options.label;
    this.startedAt = this.now();
    this.lastLineAt = this.startedAt;
    this.samples.push({ at: this.startedAt, done: 0 });
    if (options.timer !== false) {
      this.timer = setInterval(() => this.tick(), this.tty ? 200 : Math.min(1000, options.everyMs ?? 5000));
      this.timer.unref();
    }
  }

  get count(): number {
    return this.done;
  }

  add(records: number): void {
    this.done += records;
  }

  set(done: number): void {
    this.done = done;
  }

  setTotal(total: number | undefined): void {
    this.total = total;
  }

  setLabel(label: string): void {
    this.label = label;
  }

  /** records/s over the last few seconds (since the start while shorter) */
  rate(): number {
    const now = this.now();
    const oldest = this.samples.find((s) => now - s.at <= WINDOW_MS) ?? this.samples[this.samples.length - 1];
    const span = (now - oldest.at) / 1000;
    if (span <= 0) return 0;
    return (this.done - oldest.done) / span;
  }

  /** seconds left at the current rate; undefined without a total or a rate */
  eta(): number | undefined {
    if (this.total === undefined) return undefined;
    const rate = this.rate();
    if (rate <= 0) return this.done >= this.total ? 0 : undefined;
    return Math.max(0, this.total - this.done) / rate;
  }

  /** The status text (without bar) — also what line mode prints. */
  line(): string {
    const rate = this.rate();
    const eta = this.eta();
    const parts = [`${this.label}:`];
    if (this.total !== undefined && this.total > 0) {
      parts.push(`${n(this.done)}/${n(this.total)} (${((100 * Math.min(this.done, this.total)) / this.total).toFixed(1)}%)`);
    } else parts.push(n(this.done));
    parts.push(`${n(rate)} records/s`);
    if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
    return parts.join(' ');
  }

  bar(width = 24): string {
    if (this.total === undefined || this.total <= 0) return '';
    const filled = Math.round((width * Math.min(this.done, this.total)) / this.total);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] `;
  }

  /** Samples the rate and draws (terminal) or prints a line when due (line mode). */
  tick(): void {
    const now = this.now();
    this.samples.push({ at: now, done: this.done });
    while (this.samples.length > 2 && now - this.samples[1].at > WINDOW_MS) this.samples.shift();
    if (this.tty) {
      const text = `${this.bar()}${this.line()}`;
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${text.slice(0, width - 1)}`);
      this.drawn = true;
    } else if (now - this.lastLineAt >= (this.options.everyMs ?? 5000)) {
      this.lastLineAt = now;
      this.stream.write(`${this.line()}\n`);
    }
  }

  /** Stops the timer and prints the final line: records, seconds, average rate. */
  finish(suffix = 'done'): { records: number; seconds: number; recordsPerSecond: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const seconds = Math.max(0.001, (this.now() - this.startedAt) / 1000);
    const recordsPerSecond = this.done / seconds;
    const text = `${this.label}: ${suffix}, ${n(this.done)} records in ${seconds.toFixed(1)}s (${n(recordsPerSecond)} records/s)`;
    this.stream.write(this.tty && this.drawn ? `\r\x1b[2K${text}\n` : `${text}\n`);
    return { records: this.done, seconds, recordsPerSecond };
  }

  /** Stops without a summary (an error follows). */
  abort(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.drawn) this.stream.write('\n');
  }
}
