import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '@doubletap/observability';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** how long to try to connect before a request fails (ms) */
  connectionTimeout?: number;
  requestTimeout?: number;
  retries?: number;
}

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs INFO is demoted to debug. So are two kinds of noise: every error RESPONSE a connection sees
 * (kafkajs logs them at error level although its retrier handles the retriable ones; what is not
 * retried surfaces as a thrown error that the caller logs), and the warning about a bounded retry
 * count on idempotent producers (bounded on purpose: a failed send settles, and the producer is then
 * replaced — see docs/adr/0006), and each retried attempt of a producer send (a transactional
 * producer sees CONCURRENT_TRANSACTIONS right after a commit as a matter of course; a send that
 * finally fails is thrown to its caller, which logs it).
 */
function levelOf(entry: LogEntry, message: string): 'error' | 'warn' | 'info' | 'debug' {
  const level = LEVEL[entry.level] ?? 'debug';
  if (level === 'info') return 'debug';
  if (entry.namespace === 'Connection' && message.startsWith('Response ')) return 'debug';
  if (message.startsWith('Limiting retries for the idempotent producer')) return 'debug';
  if (entry.namespace === 'Producer' && message.startsWith('Failed to send messages')) return 'debug';
  return level;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A kafkajs client whose logs go to our structured logger (see levelOf for what is demoted). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const { logger } = options;
  const config: KafkaConfig = {
    clientId: options.clientId,
    // kafkajs bootstraps from the first broker it lists and moves on only after a connection error;
    // a broker that is paused (SIGSTOP, a GC storm) accepts the TCP connection and never answers. A
    // shuffled list spreads bootstrap load and lets most clients start while one broker hangs.
    brokers: shuffled(options.brokers),
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 10000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logger ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, ...rest } = entry.log;
      logger[levelOf(entry, message)]({ kafka: { namespace: entry.namespace, ...rest } }, message);
    },
  };
  return new Kafka(config);
}

export type { Kafka } from 'kafkajs';
