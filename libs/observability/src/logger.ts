import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token'];

/** Where log lines go: stdout, stderr, or any sink with write() (tests capture lines). */
export type LogDestination = 'stdout' | 'stderr' | { write(line: string): void };

/**
 * Structured JSON logs (one object per line) with secrets redacted; `name` is the component.
 * `to: 'stderr'` for tools whose stdout is their result (the CLI's --json document).
 */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info', to: LogDestination = 'stdout'): Logger {
  const options = {
    name,
    level,
    base: { pid: process.pid, app: name },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (to === 'stdout') return pino(options);
  if (to === 'stderr') return pino(options, pino.destination(2));
  return pino(options, { write: (line: string) => to.write(line.endsWith('\n') ? line.slice(0, -1) : line) });
}

/** Routes NestJS's own log lines into the same structured logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
