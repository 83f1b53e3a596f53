import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import {
  type CliConfig,
  loadAnalyzerConfig,
  loadGatewayConfig,
  loadIngestConfig,
  type Env,
  kafkaConnection,
} from '@vigil/config';
import { StreamSpecSchema, TOPICS, type StreamSpecInput } from '@vigil/contracts';
import { KafkaPublisher, StreamRegistry, createKafka, ensureTopics } from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { FOOTAGE, LocalKafka, RtspTestServer, footageClip, generateClip, repoRoot } from '@vigil/testing';
import { startAnalyzer } from '../../analyzer/src/index.js';
import { startIngest } from '../../ingest/src/index.js';
import { startGateway } from '../../gateway/src/index.js';
import { startTail } from './tail.command.js';

export interface RunningUp {
  readonly brokers: string[];
  readonly streams: string[];
  /** The dashboard's address with a write key in its fragment (never sent to the server). */
  readonly dashboardUrl: string;
  stop(): Promise<void>;
}

/**
 * All roles in one process: a local Kafka broker when none is configured, an RTSP server with two demo
 * cameras (one with a scheduled anomaly), the analyzer, ingest, and a live print of summaries and
 * anomalies. stop() tears down in reverse order; a failure part-way tears down what had started.
 */
export async function runUp(
  cfg: CliConfig,
  env: Env,
  logger: Logger,
  write: (l: string) => void,
): Promise<RunningUp> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.warn(`shutdown step failed: ${(err as Error).message}`);
      }
    }
    stops.length = 0;
  };
  try {
    const dataDir = resolve(cfg.dataDir);
    const brokers = cfg.brokers ?? (await localKafka(cfg, join(dataDir, 'kafka'), logger, stops));

    const clips = join(dataDir, 'clips');
    const yard = generateClip(join(clips, 'demo-yard-box-20s.mp4'), {
      scenario: 'box',
      seconds: 20,
      width: 640,
      height: 360,
      changeAt: 10,
    });
    // real footage, where setup fetched it: OpenCV's courtyard clip (people crossing, a van parked)
    const footage = join(repoRoot(), FOOTAGE);
    const courtyard = existsSync(footage)
      ? footageClip(join(clips, 'demo-courtyard-vtest.mp4'), footage, { width: 640, height: 480, fps: 10 })
      : undefined;
    const rtsp = new RtspTestServer(
      [
        { name: 'yard', file: yard },
        { name: 'line', pattern: 'ball', width: 640, height: 360, fps: 10 },
        ...(courtyard ? [{ name: 'courtyard', file: courtyard }] : []),
      ],
      cfg.rtspPort,
    );
    stops.push(async () => {
      await rtsp.stop();
      logger.info('demo RTSP server stopped');
    });
    await rtsp.start();

    const streams: StreamSpecInput[] = [
      {
        id: 'demo-yard',
        name: 'Demo yard (a box appears every 20 s)',
        url: rtsp.url('yard'),
        sampling: { mode: 'fps', fps: 2 },
      },
      {
        id: 'demo-line',
        name: 'Demo line (moving ball)',
        url: rtsp.url('line'),
        sampling: { mode: 'fps', fps: 2 },
      },
      ...(courtyard
        ? [
            {
              id: 'demo-courtyard',
              name: 'Demo courtyard (real footage: people crossing; the right third is off limits)',
              url: rtsp.url('courtyard'),
              sampling: { mode: 'fps' as const, fps: 2 },
              output: { width: 640, height: 480 },
              analysis: {
                zones: [
                  {
                    name: 'right-third',
                    polygon: [
                      [0.67, 0.3],
                      [1, 0.3],
                      [1, 1],
                      [0.67, 1],
                    ] as [number, number][],
                    forbidden: true,
                  },
                ],
              },
            },
          ]
        : []),
    ];
    const shared = { ...env, VIGIL_KAFKA_BROKERS: brokers.join(',') };
    const analyzerCfg = loadAnalyzerConfig({
      ...shared,
      VIGIL_SUMMARY_INTERVAL_S: env.VIGIL_SUMMARY_INTERVAL_S ?? '10',
      // the demo yard is empty for its first 10 s: learn its normal from 6 s of it, then the box is news
      VIGIL_ANALYZER_WARMUP_SAMPLES: env.VIGIL_ANALYZER_WARMUP_SAMPLES ?? '12',
      VIGIL_OUTBOX_DIR: env.VIGIL_OUTBOX_DIR ?? join(resolve(cfg.dataDir), 'up-outbox'),
    });
    const ingestCfg = loadIngestConfig(shared);
    const conn = kafkaConnection(cfg, 'vigil-up', brokers);

    // The demo cameras are registered the way any camera is: as StreamSpecs on vigil.streams.v1, from
    // where the ingest worker group picks them up.
    const kafka = createKafka(conn, logger);
    await ensureTopics(kafka, conn, [TOPICS.streams]);
    const publisher = new KafkaPublisher(kafka, conn);
    await publisher.connect();
    try {
      await new StreamRegistry(publisher, 'urn:vigil:up').put(streams.map((s) => StreamSpecSchema.parse(s)));
    } finally {
      await publisher.disconnect();
    }

    // The analyzer creates the output topics, so it starts before the printers that follow them.
    const analyzer: INestApplicationContext = await startAnalyzer(analyzerCfg, logger);
    stops.push(() => analyzer.close());
    for (const topic of ['summaries', 'anomalies'] as const) {
      const stop = await startTail(conn, logger, topic, { fromBeginning: false, json: false, write });
      stops.push(stop);
    }
    const ingest: INestApplicationContext = await startIngest(ingestCfg, logger);
    stops.push(() => ingest.close());

    // The gateway with a write key of this data directory's own, unless keys are configured.
    let keyForUrl = '';
    let keysFile = env.VIGIL_GATEWAY_API_KEYS_FILE;
    if (!keysFile) {
      keysFile = join(dataDir, 'gateway-keys');
      keyForUrl = demoKey(keysFile);
    }
    const gateway = await startGateway(
      loadGatewayConfig({
        ...shared,
        VIGIL_GATEWAY_API_KEYS_FILE: keysFile,
        VIGIL_GATEWAY_DB: env.VIGIL_GATEWAY_DB ?? join(dataDir, 'gateway.db'),
      }),
      logger,
    );
    stops.push(() => gateway.close());
    const dashboardUrl = `http://localhost:${gateway.port}/${keyForUrl ? `#key=${keyForUrl}` : ''}`;

    return { brokers, streams: streams.map((s) => s.id), dashboardUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Starts a local Kafka broker (no VIGIL_KAFKA_BROKERS given); its stop goes on `stops`. */
export async function localKafka(
  cfg: CliConfig,
  dataDir: string,
  logger: Logger,
  stops: (() => Promise<void>)[],
): Promise<string[]> {
  logger.info('no VIGIL_KAFKA_BROKERS given: starting a local Kafka broker', { port: cfg.kafkaPort });
  const kafka = new LocalKafka({ port: cfg.kafkaPort, dataDir });
  stops.push(async () => {
    await kafka.stop();
    logger.info('local Kafka broker stopped');
  });
  await kafka.start();
  return kafka.brokers;
}

/** The write key `vigil up` made for this data directory (made once, kept so the dashboard link lasts). */
function demoKey(file: string): string {
  if (!existsSync(file)) {
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, `# made by vigil up\nwrite ${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  }
  return /^write (\S+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
}
