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

/** A kafkajs client whose logs go to our structured logger (kafkajs INFO is demoted to debug). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const { logger } = options;
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 10000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logger ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, ...rest } = entry.log;
      const level = LEVEL[entry.level] === 'info' ? 'debug' : (LEVEL[entry.level] ?? 'debug');
      logger[level]({ kafka: { namespace: entry.namespace, ...rest } }, message);
    },
  };
  return new Kafka(config);
}

export type { Kafka } from 'kafkajs';
