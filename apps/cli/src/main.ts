import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { type INestApplicationContext } from '@nestjs/common';
import {
  kafkaConnection,
  loadAnalyzerConfig,
  loadCliConfig,
  loadGatewayConfig,
  loadIngestConfig,
  type Env,
  cameraPolicy,
} from '@vigil/config';
import { Logger } from '@vigil/observability';
import { UsageError, describeFatal } from './errors.js';

// Each command's code (and the apps, ONNX Runtime, sharp, Nest behind them) is imported when that command
// runs: importing them all made `vigil tail`, `streams ls` and `ask` take seconds to start.

const HELP = `vigil — real-time video understanding over Kafka

Usage:
  vigil up                        all roles in one process: demo cameras, dashboard, local Kafka unless VIGIL_KAFKA_BROKERS is set
  vigil replay <file> [--fps N]   backtest a recorded clip through the pipeline as fast as the CPU allows
  vigil tail <topic>              pretty-print anomalies, summaries, status, streams or frames as they arrive
  vigil streams add|ls|rm         add, list and remove cameras on vigil.streams.v1
  vigil ask "<question>"          answer a question from what the cameras saw (the gateway's history)
  vigil ingest                    the ingest role (cameras from vigil.streams.v1 and VIGIL_STREAMS)
  vigil analyzer                  the analyzer role
  vigil gateway                   the REST API, event stream and dashboard (needs VIGIL_GATEWAY_API_KEYS_FILE)

Run vigil <command> --help for a command's options. Configuration is read from VIGIL_* environment
variables (see README.md). Ctrl-C stops everything started.`;

/** `vigil <command> --help`. */
const COMMAND_HELP: Record<string, string> = {
  up: `vigil up — everything on one machine, for a demo or a single site

Starts a local Kafka broker (unless VIGIL_KAFKA_BROKERS is set), an RTSP server with two demo cameras (the
yard shows a box every 20 s), ingest, the analyzer and the gateway, prints summaries and anomalies, and the
dashboard's address with a write key made for VIGIL_DATA_DIR (default .cache/vigil).
Environment: VIGIL_DATA_DIR, VIGIL_LOCAL_KAFKA_PORT (9092), VIGIL_DEMO_RTSP_PORT (8554),
VIGIL_GATEWAY_PORT (8080), and every ingest, analyzer and gateway variable.`,
  replay: `vigil replay <file> [--fps N] [--json] [--brokers host:port]

Backtests a recorded clip: ingest's ffmpeg sampling at --fps (default 2), the analyzer, Kafka (a local
broker unless VIGIL_KAFKA_BROKERS or --brokers is given), as fast as the analyzer keeps up. Shows a progress
bar, then prints the anomaly events (clip time) and the last summary; --json prints them as JSON instead.
The analyzer learns the scene's normal from its first VIGIL_ANALYZER_WARMUP_SAMPLES samples (default 120).`,
  tail: `vigil tail <anomalies|summaries|status|streams|frames> [--from-beginning] [--json] [--brokers host:port]

Pretty-prints a topic as messages arrive; --json prints each message as it is on Kafka.`,
  streams: `vigil streams add <file.json|->           add or update cameras (a StreamSpec or an array of them)
vigil streams add --id <id> --url <url> [--name <name>] [--fps <n>]
vigil streams ls                           the cameras with their latest status
vigil streams rm <id…>                      remove cameras
Options: --brokers host:port (default VIGIL_KAFKA_BROKERS, or the local broker of vigil up).`,
  ask: `vigil ask "<question>" [--streams a,b] [--from <time>] [--to <time>] [--limit N] [--gateway URL] [--json]

Asks the gateway (POST /api/ask): the summaries and events nearest in meaning to the question, answered by
the model at the gateway's VIGIL_ASK_URL citing them, or listed best first without one. Times are RFC 3339
or epoch ms. The gateway is --gateway, else VIGIL_GATEWAY_URL, else http://127.0.0.1:$VIGIL_GATEWAY_PORT
(8080); the key is VIGIL_API_KEY, else the one vigil up made in VIGIL_DATA_DIR (.cache/vigil).`,
  ingest: `vigil ingest — the ingest role: runs the cameras of the vigil.streams.v1 partitions it owns (and
VIGIL_STREAMS), publishes sampled frames and camera status. Environment: see README, "Configuration".`,
  analyzer: `vigil analyzer — the analyzer role: vision tokens, anomaly events, narrated summaries.
Environment: see README, "Configuration".`,
  gateway: `vigil gateway — the REST API (/api, OpenAPI at /docs), Server-Sent Events (/events) and the dashboard
(/). Needs VIGIL_GATEWAY_API_KEYS_FILE: one "<read|write> <key>" per line. Environment: see README.`,
};

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
      fps: { type: 'string' },
      id: { type: 'string' },
      url: { type: 'string' },
      name: { type: 'string' },
      streams: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      gateway: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, arg] = positionals;
  const log = logger(env);
  if (values.help && command && COMMAND_HELP[command]) {
    process.stdout.write(COMMAND_HELP[command] + '\n');
    return 0;
  }
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP + '\n');
    return command || values.help ? 0 : 2;
  }
  const write = (line: string) => process.stdout.write(line + '\n');
  switch (command) {
    case 'up': {
      const { runUp } = await import('./up.command.js');
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
    case 'ingest': {
      const { startIngest } = await import('../../ingest/src/index.js');
      await runRole(() => startIngest(loadIngestConfig(env), log), log);
      return 0;
    }
    case 'analyzer': {
      const { startAnalyzer } = await import('../../analyzer/src/index.js');
      await runRole(() => startAnalyzer(loadAnalyzerConfig(env), log), log);
      return 0;
    }
    case 'gateway': {
      const { startGateway } = await import('../../gateway/src/index.js');
      const signal = untilSignal();
      const gw = await startGateway(loadGatewayConfig(env), log);
      const sig = await signal;
      log.info(`received ${sig}: shutting down`);
      await gracefully(() => gw.close(), log);
      return 0;
    }
    case 'tail': {
      const { startTail, tailTopic } = await import('./tail.command.js');
      const topic = tailTopic(arg);
      const cfg = loadCliConfig({
        ...env,
        ...(values.brokers ? { VIGIL_KAFKA_BROKERS: values.brokers } : {}),
      });
      const brokers = cfg.brokers ?? [`127.0.0.1:${cfg.kafkaPort}`];
      const signal = untilSignal();
      const stop = await startTail(kafkaConnection(cfg, 'vigil-tail', brokers), log, topic, {
        fromBeginning: values['from-beginning'],
        json: values.json,
        write,
      });
      await signal;
      await stop();
      return 0;
    }
    case 'streams': {
      const { runStreams } = await import('./streams.command.js');
      const cfg = loadCliConfig({
        ...env,
        ...(values.brokers ? { VIGIL_KAFKA_BROKERS: values.brokers } : {}),
      });
      const brokers = cfg.brokers ?? [`127.0.0.1:${cfg.kafkaPort}`];
      await runStreams(
        kafkaConnection(cfg, 'vigil-cli', brokers),
        log,
        arg,
        positionals.slice(2),
        { id: values.id, url: values.url, name: values.name, fps: values.fps },
        write,
        cameraPolicy(cfg),
      );
      return 0;
    }
    case 'replay': {
      const { eventTable, runReplay } = await import('./replay.command.js');
      if (!arg)
        throw new UsageError('vigil replay needs the path of a recorded clip; see vigil replay --help');
      const fps = values.fps === undefined ? 2 : Number(values.fps);
      if (!(fps > 0 && fps <= 30)) throw new UsageError('--fps must be a number of samples per second, 0-30');
      const cfg = loadCliConfig({
        ...env,
        ...(values.brokers ? { VIGIL_KAFKA_BROKERS: values.brokers } : {}),
      });
      const tty = process.stderr.isTTY;
      let last = -1;
      const result = await runReplay(cfg, env, log, arg, {
        fps,
        write,
        progress: (text, final) => {
          if (tty) process.stderr.write(`\r${text}${final ? '\n' : ''}`);
          else {
            // without a terminal: a line every 10 %
            const pct = Number(/(\d+)%/.exec(text)?.[1] ?? 0);
            if (final || Math.floor(pct / 10) > last) {
              last = Math.floor(pct / 10);
              process.stderr.write(text + '\n');
            }
          }
        },
      });
      if (values.json) {
        write(JSON.stringify({ ...result, startedAt: new Date(result.startMs).toISOString() }));
        return 0;
      }
      write(
        `replayed ${arg}: ${result.durationS.toFixed(1)} s of video in ${result.wallS.toFixed(1)} s (${(result.durationS / result.wallS).toFixed(1)}× real time), ${result.samples} samples, ${result.events.length} anomaly events`,
      );
      for (const line of eventTable(result)) write(line);
      const lastSummary = result.summaries.filter((s) => s.level === 'window').pop();
      if (lastSummary) write(`last summary: ${lastSummary.text}`);
      return 0;
    }
    case 'ask': {
      const { runAsk } = await import('./ask.command.js');
      await runAsk(
        env,
        positionals.slice(1).join(' ') || undefined,
        {
          gateway: values.gateway,
          streams: values.streams,
          from: values.from,
          to: values.to,
          limit: values.limit,
          json: values.json,
        },
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
