import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { type INestApplicationContext } from '@nestjs/common';
import {
  loadAnalyzerConfig,
  loadCliConfig,
  loadGatewayConfig,
  loadIngestConfig,
  type Env,
} from '@vigil/config';
import { Logger } from '@vigil/observability';
import { startAnalyzer } from '../../analyzer/src/main.js';
import { startIngest } from '../../ingest/src/main.js';
import { startGateway } from '../../gateway/src/main.js';
import { UsageError, describeFatal } from './errors.js';
import { startTail, tailTopic } from './tail.command.js';
import { runUp } from './up.command.js';
import { runStreams } from './streams.command.js';

const HELP = `vigil — real-time video understanding over Kafka

Usage:
  vigil up                       all roles in one process, demo cameras, local Kafka unless VIGIL_KAFKA_BROKERS is set
  vigil ingest                   the ingest role (cameras from VIGIL_STREAMS)
  vigil analyzer                 the analyzer role
  vigil gateway                  the REST API, event stream and dashboard (needs VIGIL_GATEWAY_API_KEYS_FILE)
  vigil tail <anomalies|summaries|status|streams|frames> [--from-beginning] [--json] [--brokers host:port]
  vigil streams put <file.json|->  add or update cameras (a StreamSpec or an array) on vigil.streams.v1
  vigil streams rm <id…>          remove cameras

Configuration is read from VIGIL_* environment variables (see README.md). Ctrl-C stops everything started.`;

function logger(env: Env): Logger {
  const level = env.VIGIL_LOG_LEVEL;
  return new Logger('vigil', {
    level: level === 'debug' || level === 'warn' || level === 'error' ? level : 'info',
    format: env.VIGIL_LOG_FORMAT === 'json' ? 'json' : 'text',
  });
}

/**
 * Resolves on the first SIGINT, SIGTERM or SIGHUP (a closed terminal); a second SIGINT or SIGTERM while
 * stopping forces exit (helpers still die with us: see diesWithParent). Later SIGHUPs are ignored, so a
 * terminal closing mid-shutdown cannot cut the shutdown short.
 */
function untilSignal(): Promise<NodeJS.Signals> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      process.on('SIGHUP', () => undefined);
      resolve(sig);
    };
    for (const s of signals) process.on(s, on);
  });
}

/** Graceful stop's limit (Kubernetes' default grace period): past it, say so and exit anyway. */
const SHUTDOWN_LIMIT_MS = 30_000;

async function gracefully(stop: () => Promise<void>, log: Logger): Promise<void> {
  const timer = setTimeout(() => {
    log.error(`shutdown did not finish within ${SHUTDOWN_LIMIT_MS / 1000} s; exiting anyway`);
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS);
  timer.unref();
  try {
    await stop();
  } finally {
    clearTimeout(timer);
  }
}

async function runRole(start: () => Promise<INestApplicationContext>, log: Logger): Promise<void> {
  // Listen before booting: a signal that arrives during boot shuts down as soon as boot is done.
  const signal = untilSignal();
  const app = await start();
  const sig = await signal;
  log.info(`received ${sig}: shutting down`);
  await gracefully(() => app.close(), log);
}

export async function main(argv: string[], env: Env): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      'from-beginning': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      brokers: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, arg] = positionals;
  const log = logger(env);
  if (values.help || !command) {
    process.stdout.write(HELP + '\n');
    return command || values.help ? 0 : 2;
  }
  const write = (line: string) => process.stdout.write(line + '\n');
  switch (command) {
    case 'up': {
      const cfg = loadCliConfig(env);
      const signal = untilSignal();
      const up = await runUp(cfg, env, log, write);
      log.info(
        `Vigil is up: cameras ${up.streams.join(', ')}; Kafka at ${up.brokers.join(',')}. Summaries and anomalies print below; Ctrl-C stops everything.`,
      );
      log.info(`Dashboard: ${up.dashboardUrl}`);
      log.info(`In another terminal: VIGIL_KAFKA_BROKERS=${up.brokers.join(',')} npx vigil tail summaries`);
      const sig = await signal;
      log.info(`received ${sig}: shutting down`);
      await gracefully(() => up.stop(), log);
      return 0;
    }
    case 'ingest':
      await runRole(() => startIngest(loadIngestConfig(env), log), log);
      return 0;
    case 'analyzer':
      await runRole(() => startAnalyzer(loadAnalyzerConfig(env), log), log);
      return 0;
    case 'gateway': {
      const signal = untilSignal();
      const gw = await startGateway(loadGatewayConfig(env), log);
      const sig = await signal;
      log.info(`received ${sig}: shutting down`);
      await gracefully(() => gw.close(), log);
      return 0;
    }
    case 'tail': {
      const topic = tailTopic(arg);
      const cfg = loadCliConfig({
        ...env,
        ...(values.brokers ? { VIGIL_KAFKA_BROKERS: values.brokers } : {}),
      });
      const brokers = cfg.brokers ?? [`127.0.0.1:${cfg.kafkaPort}`];
      const signal = untilSignal();
      const stop = await startTail(
        { brokers, clientId: 'vigil-tail', connectTimeoutMs: cfg.connectTimeoutMs },
        log,
        topic,
        {
          fromBeginning: values['from-beginning'],
          json: values.json,
          write,
        },
      );
      await signal;
      await stop();
      return 0;
    }
    case 'streams': {
      const cfg = loadCliConfig({
        ...env,
        ...(values.brokers ? { VIGIL_KAFKA_BROKERS: values.brokers } : {}),
      });
      const brokers = cfg.brokers ?? [`127.0.0.1:${cfg.kafkaPort}`];
      await runStreams(
        { brokers, clientId: 'vigil-cli', connectTimeoutMs: cfg.connectTimeoutMs },
        log,
        arg,
        positionals.slice(2),
        write,
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"; run vigil --help`);
  }
}

export async function run(): Promise<void> {
  const env = process.env;
  try {
    process.exitCode = await main(process.argv.slice(2), env);
  } catch (err) {
    const fatal =
      err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
        ? { line: `vigil: ${err.message}; run vigil --help`, code: 2 }
        : describeFatal(err);
    process.stderr.write(fatal.line + '\n');
    if ('stack' in fatal && fatal.stack && env.VIGIL_LOG_LEVEL === 'debug')
      process.stderr.write(fatal.stack + '\n');
    process.exitCode = fatal.code;
  }
  // Kafka clients and timers may keep the loop alive after a fatal boot error; leave promptly.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}
