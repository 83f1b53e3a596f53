import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import { type Logger } from '@vigil/observability';

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly connectTimeoutMs: number;
}

/**
 * Builds the kafkajs client. kafkajs's own log lines go to our logger at debug level: faults surface once,
 * as errors we raise with a fix in them, rather than as kafkajs's repeated retry chatter.
 */
export function createKafka(conn: KafkaConnection, logger: Logger): Kafka {
  const log = logger.child('kafkajs');
  const config: KafkaConfig = {
    clientId: conn.clientId,
    brokers: [...conn.brokers],
    connectionTimeout: conn.connectTimeoutMs,
    requestTimeout: Math.max(30_000, conn.connectTimeoutMs),
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 5_000 },
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...rest } = entry;
        const fields: Record<string, string | number | boolean> = {};
        for (const [k, v] of Object.entries(rest)) {
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
        }
        log.debug(`${namespace}: ${message}`, { kafkajsLevel: logLevel[level] ?? level, ...fields });
      },
  };
  return new Kafka(config);
}
