// Kafka security against a real broker with SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), in the
// clear and over TLS with its own CA: the settings every app reads (VIGIL_KAFKA_SASL_*, VIGIL_KAFKA_TLS*)
// connect, publish and consume; a wrong password, an untrusted certificate and a missing password file
// each stop with an error naming what to fix, and the password appears in none of them, nor in the logs
// of an analyzer that runs over SASL_SSL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOPICS } from '@vigil/contracts';
import { ConfigError, type Env, kafkaConnection, loadAnalyzerConfig, loadIngestConfig } from '@vigil/config';
import {
  KafkaPublisher,
  KafkaSubscriber,
  KafkaUnavailableError,
  createKafka,
  ensureTopics,
  type IncomingMessage,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { LocalKafka, testDir, waitFor } from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';

const PASSWORD = 'Sx7-never-in-logs-2b9';
const lines: string[] = [];
const log = new Logger('test', { level: 'debug', sink: { write: (l) => lines.push(l) } });
let kafka: LocalKafka;
let dir: string;

before(async () => {
  dir = testDir('vigil-kafka-sasl');
  kafka = new LocalKafka({
    dataDir: join(dir, 'kafka'),
    sasl: { users: [{ username: 'vigil', password: PASSWORD }] },
  });
  await kafka.start();
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
  writeFileSync(join(dir, 'wrong'), 'not-the-password');
});

after(async () => {
  await kafka?.stop();
});

function env(extra: Env): Env {
  return {
    VIGIL_KAFKA_SASL_USERNAME: 'vigil',
    VIGIL_KAFKA_SASL_PASSWORD_FILE: join(dir, 'password'),
    VIGIL_KAFKA_CONNECT_TIMEOUT_MS: '3000',
    ...extra,
  };
}

/** Creates a topic, publishes one message and reads it back over the connection these settings give. */
async function roundTrip(settings: Env): Promise<string> {
  const conn = kafkaConnection(loadIngestConfig(settings), `sasl-${randomUUID().slice(0, 8)}`);
  const client = createKafka(conn, log);
  const topic = { ...TOPICS.control, name: `vigil.sasl-test.${randomUUID().slice(0, 8)}`, partitions: 1 };
  await ensureTopics(client, conn, [topic]);
  const publisher = new KafkaPublisher(client, conn);
  await publisher.connect();
  const got: IncomingMessage[] = [];
  const sub = new KafkaSubscriber(
    client,
    conn,
    { groupId: `g-${topic.name}`, topics: [topic.name], fromBeginning: true },
    log,
  );
  try {
    await publisher.publish(topic.name, [
      { key: 'k', value: 'hello over ' + settings.VIGIL_KAFKA_SASL_MECHANISM, headers: {} },
    ]);
    void sub.start((m) => {
      got.push(...m);
      return Promise.resolve();
    });
    await waitFor('the message back', () => got.length > 0, 30_000);
    return got[0]!.value!.toString();
  } finally {
    await sub.stop();
    await publisher.disconnect();
  }
}

/** The error connecting with these settings fails with. */
async function connectError(settings: Env): Promise<Error> {
  const conn = kafkaConnection(loadIngestConfig(settings));
  const publisher = new KafkaPublisher(createKafka(conn, log), conn);
  try {
    await publisher.connect();
  } catch (e) {
    return e as Error;
  }
  await publisher.disconnect();
  return assert.fail('connected');
}

test('SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 in the clear: publish and consume', async () => {
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'])
    assert.equal(
      await roundTrip(
        env({ VIGIL_KAFKA_BROKERS: kafka.saslBrokers.join(','), VIGIL_KAFKA_SASL_MECHANISM: mechanism }),
      ),
      `hello over ${mechanism}`,
    );
});

test('SASL over TLS, trusting the broker through VIGIL_KAFKA_TLS_CA_FILE', async () => {
  assert.equal(
    await roundTrip(
      env({
        VIGIL_KAFKA_BROKERS: kafka.tlsBrokers.join(','),
        VIGIL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        VIGIL_KAFKA_TLS: 'true',
        VIGIL_KAFKA_TLS_CA_FILE: kafka.caFile,
      }),
    ),
    'hello over scram-sha-512',
  );
});

test('a wrong password, an untrusted certificate and no login each fail with what to fix', async () => {
  const refused = await connectError(
    env({
      VIGIL_KAFKA_BROKERS: kafka.saslBrokers.join(','),
      VIGIL_KAFKA_SASL_MECHANISM: 'scram-sha-256',
      VIGIL_KAFKA_SASL_PASSWORD_FILE: join(dir, 'wrong'),
    }),
  );
  assert.ok(refused instanceof KafkaUnavailableError, String(refused));
  assert.match(refused.message, /SASL login refused/);
  assert.match(refused.message, /VIGIL_KAFKA_SASL_PASSWORD_FILE/);

  const untrusted = await connectError(
    env({
      VIGIL_KAFKA_BROKERS: kafka.tlsBrokers.join(','),
      VIGIL_KAFKA_SASL_MECHANISM: 'plain',
      VIGIL_KAFKA_TLS: 'true',
    }),
  );
  assert.match(untrusted.message, /TLS: the broker’s certificate is not trusted/);
  assert.match(untrusted.message, /VIGIL_KAFKA_TLS_CA_FILE/);

  const noLogin = await connectError({
    VIGIL_KAFKA_BROKERS: kafka.saslBrokers.join(','),
    VIGIL_KAFKA_CONNECT_TIMEOUT_MS: '2000',
  });
  assert.ok(noLogin instanceof KafkaUnavailableError, String(noLogin));
  assert.match(noLogin.message, /VIGIL_KAFKA_SASL_\*/);

  for (const e of [refused, untrusted, noLogin]) assert.ok(!e.message.includes(PASSWORD));
});

test('settings that cannot work are refused at boot, naming the variable', () => {
  const problems = (settings: Env) => {
    try {
      kafkaConnection(loadIngestConfig({ VIGIL_KAFKA_BROKERS: 'kafka:9092', ...settings }));
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.problems.join('\n');
    }
    return assert.fail('accepted');
  };
  assert.match(
    problems({ VIGIL_KAFKA_SASL_MECHANISM: 'scram-sha-256' }),
    /VIGIL_KAFKA_SASL_USERNAME: SASL scram-sha-256 needs a user name/,
  );
  assert.match(
    problems({ VIGIL_KAFKA_SASL_MECHANISM: 'scram-sha-256' }),
    /VIGIL_KAFKA_SASL_PASSWORD_FILE: SASL/,
  );
  assert.match(problems({ VIGIL_KAFKA_SASL_MECHANISM: 'gssapi' }), /VIGIL_KAFKA_SASL_MECHANISM/);
  assert.match(
    problems({ VIGIL_KAFKA_SASL_USERNAME: 'u' }),
    /VIGIL_KAFKA_SASL_MECHANISM: a SASL user .* but no mechanism/,
  );
  assert.match(
    problems({ VIGIL_KAFKA_TLS_CA_FILE: '/ca.pem' }),
    /VIGIL_KAFKA_TLS: TLS files are set but TLS is off/,
  );
  assert.match(
    problems({ VIGIL_KAFKA_TLS: 'true', VIGIL_KAFKA_TLS_CERT_FILE: '/c.pem' }),
    /VIGIL_KAFKA_TLS_KEY_FILE: a client certificate needs both/,
  );
  assert.match(
    problems({
      VIGIL_KAFKA_SASL_MECHANISM: 'plain',
      VIGIL_KAFKA_SASL_USERNAME: 'u',
      VIGIL_KAFKA_SASL_PASSWORD_FILE: join(dir, 'absent'),
    }),
    /VIGIL_KAFKA_SASL_PASSWORD_FILE: cannot read .*absent \(ENOENT\); mount the SASL password there/,
  );
});

test('an analyzer runs over SASL_SSL and its logs never carry the password', async () => {
  const config = loadAnalyzerConfig(
    env({
      VIGIL_KAFKA_BROKERS: kafka.tlsBrokers.join(','),
      VIGIL_KAFKA_SASL_MECHANISM: 'scram-sha-256',
      VIGIL_KAFKA_TLS: 'true',
      VIGIL_KAFKA_TLS_CA_FILE: kafka.caFile,
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_LOG_LEVEL: 'debug',
    }),
  );
  const { AnalyzerService } = await import('../../apps/analyzer/src/analyzer.service.js');
  const app = await startAnalyzer(config, log);
  try {
    const port = app.get(AnalyzerService).httpPort;
    await waitFor(
      'the analyzer ready over SASL_SSL',
      async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200,
      60_000,
    );
  } finally {
    await app.close();
  }
  assert.ok(lines.length > 10, 'debug logs were captured');
  assert.deepEqual(
    lines.filter((l) => l.includes(PASSWORD)),
    [],
  );
});
