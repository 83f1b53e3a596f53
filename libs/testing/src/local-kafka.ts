import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { diesWithParent } from '@vigil/media';
import { repoRoot } from './repo-root.js';
import { terminate, trackChild } from './child-processes.js';
import { freePort } from './free-port.js';

export interface LocalKafkaOptions {
  /** Client port; a free one when omitted. */
  readonly port?: number;
  /** Storage and logs; formatted once and reused across restarts (topics and offsets survive). */
  readonly dataDir: string;
  readonly heapMb?: number;
  readonly startTimeoutMs?: number;
  /**
   * Two more listeners that require a SASL login (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) as one of these
   * users: `saslBrokers` in the clear, `tlsBrokers` over TLS with a self-signed certificate (`caFile`).
   * The plain listener stays for the harness. SCRAM users are stored when the storage is formatted.
   */
  readonly sasl?: { readonly users: readonly { readonly username: string; readonly password: string }[] };
}

export class LocalKafkaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalKafkaError';
  }
}

/** Fetches the broker jars into tools/kafka/lib with Maven when they are not there yet (cached after). */
export function ensureKafkaJars(): string {
  const dir = join(repoRoot(), 'tools/kafka');
  const lib = join(dir, 'lib');
  if (existsSync(lib) && readdirSync(lib).some((f) => /^kafka_2\.13-3\.9\.\d+\.jar$/.test(f))) return lib;
  const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'dependency:copy-dependencies'], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (mvn.error || mvn.status !== 0) {
    const why = mvn.error
      ? mvn.error.message
      : (mvn.stdout + mvn.stderr).trim().split('\n').slice(-3).join(' ');
    throw new LocalKafkaError(
      `cannot fetch the Kafka broker jars with Maven (${why}); install Maven (apt-get install maven) and make sure Maven Central is reachable, or set VIGIL_KAFKA_BROKERS to an existing broker`,
    );
  }
  return lib;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolvePromise(true);
    });
    sock.once('error', () => resolvePromise(false));
  });
}

/**
 * A single-node KRaft broker (Apache Kafka 3.9 from Maven Central jars) for tests and `vigil up`.
 * start() returns once a client can fetch cluster metadata; stop() shuts it down cleanly (SIGTERM, then
 * SIGKILL after 20 s).
 */
export class LocalKafka {
  private child: ChildProcess | null = null;
  private _port = 0;
  private exitInfo: string | null = null;

  constructor(private readonly opts: LocalKafkaOptions) {}

  get port(): number {
    return this._port;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this._port}`];
  }

  private saslPort = 0;
  private tlsPort = 0;

  /** The SASL_PLAINTEXT listener (with the `sasl` option). */
  get saslBrokers(): string[] {
    return [`127.0.0.1:${this.saslPort}`];
  }

  /** The SASL_SSL listener (with the `sasl` option); its certificate is `caFile`. */
  get tlsBrokers(): string[] {
    return [`127.0.0.1:${this.tlsPort}`];
  }

  /** PEM of the broker's self-signed certificate, the CA a TLS client must trust. */
  get caFile(): string {
    return join(resolve(this.opts.dataDir), 'tls', 'ca.pem');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const lib = ensureKafkaJars();
    const dataDir = resolve(this.opts.dataDir);
    const logDir = join(dataDir, 'logs');
    const storage = join(dataDir, 'storage');
    // owner-only: the broker's log segments hold every camera's frames and events
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    this._port = this.opts.port ?? (await freePort());
    if (await portOpen(this._port)) {
      throw new LocalKafkaError(
        `port ${this._port} is already in use; stop what listens there or choose another port (VIGIL_LOCAL_KAFKA_PORT)`,
      );
    }
    const controllerPort = await freePort();
    const props = join(dataDir, 'server.properties');
    const sasl = this.opts.sasl ? await this.saslSettings(dataDir) : null;
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${this._port},CONTROLLER://127.0.0.1:${controllerPort}${sasl?.listeners ?? ''}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${this._port}${sasl?.listeners ?? ''}`,
        'controller.listener.names=CONTROLLER',
        `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl ? ',SASL:SASL_PLAINTEXT,SASLTLS:SASL_SSL' : ''}`,
        ...(sasl?.properties ?? []),
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${storage}`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=4',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        'log.segment.bytes=16777216',
        '',
      ].join('\n'),
    );
    const cp = `${lib}/*`;
    const jvm = [
      `-Xmx${this.opts.heapMb ?? 512}m`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${join(repoRoot(), 'tools/kafka/log4j.properties')}`,
      `-Dkafka.logs.dir=${logDir}`,
      '-cp',
      cp,
    ];
    if (!existsSync(join(storage, 'meta.properties'))) {
      const fmt = spawnSync(
        'java',
        [
          ...jvm,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          randomUUID(),
          '-c',
          props,
          '--ignore-formatted',
          ...(sasl?.formatArgs ?? []),
        ],
        { encoding: 'utf8' },
      );
      if (fmt.error || fmt.status !== 0) {
        const why = fmt.error
          ? fmt.error.message
          : (fmt.stderr || fmt.stdout).trim().split('\n').slice(-2).join(' ');
        throw new LocalKafkaError(
          `cannot format Kafka storage in ${storage} (${why}); install Java 17 (apt-get install openjdk-17-jre-headless)`,
        );
      }
    }
    // detached: Ctrl-C reaches only Vigil, which stops the broker last, after its clients disconnected.
    const cmd = diesWithParent('java', [...jvm, 'kafka.Kafka', props]);
    const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    trackChild(child);
    // a restart (stop, then start): the last run's exit is not this one's
    this.exitInfo = null;
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (t: string) => (stderr = (stderr + t).slice(-4000)));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.exitInfo = `exited with ${signal ?? `code ${code}`}${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`;
    });
    await this.waitReady(this.opts.startTimeoutMs ?? 60_000, logDir);
  }

  /** Listeners, broker properties and SCRAM users of the `sasl` option; makes the TLS key pair once. */
  private async saslSettings(
    dataDir: string,
  ): Promise<{ listeners: string; properties: string[]; formatArgs: string[] }> {
    const users = this.opts.sasl!.users;
    for (const u of users)
      if (!/^[A-Za-z0-9_-]+$/.test(u.username + u.password))
        throw new LocalKafkaError('local SASL users and passwords must be letters, digits, - and _');
    this.saslPort = await freePort();
    this.tlsPort = await freePort();
    const tlsDir = join(dataDir, 'tls');
    const keystore = join(tlsDir, 'broker.p12');
    const storePass = 'vigil-test-store';
    if (!existsSync(keystore)) {
      mkdirSync(tlsDir, { recursive: true });
      const keytool = (args: string[]) => {
        const r = spawnSync('keytool', args, { encoding: 'utf8' });
        if (r.error || r.status !== 0)
          throw new LocalKafkaError(
            `keytool failed (${r.error?.message ?? (r.stderr || r.stdout).trim()}); install Java 17 (apt-get install openjdk-17-jre-headless)`,
          );
      };
      keytool([
        '-genkeypair',
        '-alias',
        'broker',
        '-keyalg',
        'RSA',
        '-keysize',
        '2048',
        '-validity',
        '3650',
        '-dname',
        'CN=localhost',
        '-ext',
        'SAN=IP:127.0.0.1,DNS:localhost',
        '-ext',
        'BC:c=ca:true',
        '-keystore',
        keystore,
        '-storetype',
        'PKCS12',
        '-storepass',
        storePass,
        '-keypass',
        storePass,
      ]);
      keytool([
        '-exportcert',
        '-rfc',
        '-alias',
        'broker',
        '-keystore',
        keystore,
        '-storepass',
        storePass,
        '-file',
        this.caFile,
      ]);
    }
    const plain = `org.apache.kafka.common.security.plain.PlainLoginModule required ${users.map((u) => `user_${u.username}="${u.password}"`).join(' ')};`;
    const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    const properties = ['sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512'];
    for (const l of ['sasl', 'sasltls'])
      properties.push(
        `listener.name.${l}.plain.sasl.jaas.config=${plain}`,
        `listener.name.${l}.scram-sha-256.sasl.jaas.config=${scram}`,
        `listener.name.${l}.scram-sha-512.sasl.jaas.config=${scram}`,
      );
    properties.push(
      `ssl.keystore.location=${keystore}`,
      `ssl.keystore.password=${storePass}`,
      `ssl.key.password=${storePass}`,
      'ssl.keystore.type=PKCS12',
    );
    return {
      listeners: `,SASL://127.0.0.1:${this.saslPort},SASLTLS://127.0.0.1:${this.tlsPort}`,
      properties,
      formatArgs: users.flatMap((u) =>
        ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
          '--add-scram',
          `${m}=[name=${u.username},password=${u.password}]`,
        ]),
      ),
    };
  }

  private async waitReady(timeoutMs: number, logDir: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const kafka = new Kafka({
      brokers: this.brokers,
      clientId: 'vigil-local-kafka-probe',
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      retry: { retries: 0 },
    });
    while (Date.now() < deadline) {
      if (this.exitInfo) {
        throw new LocalKafkaError(
          `the local Kafka broker ${this.exitInfo}; see ${join(logDir, 'server.log')}`,
        );
      }
      if (await portOpen(this._port)) {
        const admin = kafka.admin();
        try {
          await admin.connect();
          const { brokers, controller } = await admin.describeCluster();
          if (brokers.length > 0 && controller !== null) return;
        } catch {
          // not ready yet
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.stop();
    throw new LocalKafkaError(
      `the local Kafka broker did not become ready within ${timeoutMs} ms; see ${join(logDir, 'server.log')}`,
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child, 20_000);
  }
}
