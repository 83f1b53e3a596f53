import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConnectionSettings } from '@vigil/config';
import { type Logger } from '@vigil/observability';

/**
 * Where and how to connect: brokers, client id, timeout, and the SASL login and TLS material (PEM text) that
 * kafkaConnection() in @vigil/config reads from the files the settings name.
 */
export type KafkaConnection = KafkaConnectionSettings;

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
    ...(conn.tls ? { ssl: Object.keys(conn.tls).length ? { ...conn.tls } : true } : {}),
    ...(conn.sasl ? { sasl: { ...conn.sasl } as SASLOptions } : {}),
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
