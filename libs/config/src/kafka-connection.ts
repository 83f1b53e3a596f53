import { readFileSync } from 'node:fs';
import { ConfigError } from './config.js';

/** The Kafka settings every app and the CLI share (see kafkaSchema in app-configs.ts). */
export interface KafkaSettings {
  /** Optional for the CLI, which may start a local broker; `brokers` is then given to kafkaConnection. */
  readonly brokers?: readonly string[];
  readonly clientId: string;
  readonly connectTimeoutMs: number;
  readonly saslMechanism: 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512';
  readonly saslUsername: string;
  readonly saslPasswordFile: string;
  readonly tls: boolean;
  readonly tlsCaFile: string;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
}

/** What a Kafka client needs to connect: addresses, and the SASL login and TLS material read from files. */
export interface KafkaConnectionSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly connectTimeoutMs: number;
  readonly sasl?: {
    readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

/**
 * The connection for these settings, reading the password and certificate files now (at boot), so a
 * missing or unreadable file stops the app with the variable to fix rather than failing at the first
 * connect. The password is only in memory; nothing here is logged.
 */
export function kafkaConnection(
  c: KafkaSettings,
  clientId: string = c.clientId,
  brokers: readonly string[] = c.brokers ?? [],
): KafkaConnectionSettings {
  const problems: string[] = [];
  const read = (file: string, env: string, what: string): string | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(
        `${env}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}); mount the ${what} there or change the setting`,
      );
      return undefined;
    }
  };
  const password = read(c.saslPasswordFile, 'VIGIL_KAFKA_SASL_PASSWORD_FILE', 'SASL password');
  const ca = read(c.tlsCaFile, 'VIGIL_KAFKA_TLS_CA_FILE', 'CA certificate');
  const cert = read(c.tlsCertFile, 'VIGIL_KAFKA_TLS_CERT_FILE', 'client certificate');
  const key = read(c.tlsKeyFile, 'VIGIL_KAFKA_TLS_KEY_FILE', 'client key');
  if (problems.length) throw new ConfigError(problems);
  return {
    brokers,
    clientId,
    connectTimeoutMs: c.connectTimeoutMs,
    ...(c.saslMechanism !== 'none'
      ? {
          sasl: {
            mechanism: c.saslMechanism,
            username: c.saslUsername,
            // a password file ends with a newline more often than not
            password: (password ?? '').replace(/\r?\n$/, ''),
          },
        }
      : {}),
    ...(c.tls ? { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
  };
}
