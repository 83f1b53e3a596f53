import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type INestApplicationContext } from '@nestjs/common';
import { type CliConfig, loadAnalyzerConfig, type Env, kafkaConnection } from '@vigil/config';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  CE_TYPES,
  type ControlMessage,
  ScoreSampleSchema,
  StreamSpecSchema,
  type Summary,
  SummarySchema,
  ALL_TOPICS,
  TOPICS,
  jsonRow,
  useTopicNamespace,
} from '@vigil/contracts';
import {
  KafkaPublisher,
  type KafkaSubscriber,
  createKafka,
  ensureTopics,
  jsonMessage,
  frameMessage,
} from '@vigil/kafka';
import {
  FrameReadError,
  MediaProbeError,
  buildIngestArgs,
  ffprobeBeside,
  probeDuration,
  readFrames,
} from '@vigil/media';
import { type Logger } from '@vigil/observability';
import { LocalKafka, watchTopics } from '@vigil/testing';
import { startAnalyzer } from '../../analyzer/src/index.js';
import { UsageError } from './errors.js';

export interface ReplayOptions {
  fps: number;
  /** Progress and results (stdout); the progress bar (stderr, redrawn in place on a terminal). */
  write: (line: string) => void;
  progress: (text: string, final: boolean) => void;
}

export interface ReplayResult {
  streamId: string;
  durationS: number;
  samples: number;
  wallS: number;
  /** Stream time of the clip's first frame (ms since the epoch). */
  startMs: number;
  events: AnomalyEvent[];
  summaries: Summary[];
}

/** Frames published but not yet scored: small, so the analyzer's per-stream queue never drops one. */
const IN_FLIGHT = 2;

const clock = (s: number) =>
  `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

/**
 * `vigil replay <file>`: a recorded clip through the same pipeline as a camera — ingest's ffmpeg command
 * line (sampling, scaling) and frame messages, the analyzer, Kafka — as fast as the analyzer keeps up
 * (frames are published as the previous ones are scored, so none is dropped). Stream time is clip time
 * laid out to end now. Prints a progress bar, then a table of the anomaly events and the summaries.
 */
export async function runReplay(
  cfg: CliConfig,
  env: Env,
  logger: Logger,
  fileArg: string,
  opts: ReplayOptions,
): Promise<ReplayResult> {
  const file = resolve(fileArg);
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new UsageError(`cannot read ${fileArg}; give the path of a recorded clip`);
  }
  const ffmpeg = env.VIGIL_FFMPEG_PATH ?? 'ffmpeg';
  const durationS = await probeDuration(ffprobeBeside(ffmpeg), file).catch((err: unknown) => {
    throw err instanceof MediaProbeError ? new UsageError(err.message) : err;
  });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  // A backtest is apart from live work, wherever it runs: topics of its own (vigil.replay-<run>.…, never
  // a live topic a downstream consumer reads), its own consumer group, outbox and, unless --brokers names
  // a broker, a broker of its own on a free port (so it runs beside `vigil up`, whose broker has the port).
  const run = randomUUID().slice(0, 8);
  useTopicNamespace(`replay-${run}`);
  const scratch = mkdtempSync(join(tmpdir(), `vigil-replay-${run}-`));
  stops.push(() => rm(scratch, { recursive: true, force: true }));
  try {
    let brokers = cfg.brokers;
    if (!brokers) {
      const kafka = new LocalKafka({ dataDir: join(scratch, 'kafka') });
      stops.push(() => kafka.stop());
      await kafka.start();
      brokers = kafka.brokers;
    }
    const conn = kafkaConnection(cfg, 'vigil-replay', brokers);
    const slug = basename(file)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40);
    const streamId = `replay-${slug || 'clip'}-${randomUUID().slice(0, 6)}`;
    const spec = StreamSpecSchema.parse({
      id: streamId,
      name: `Replay of ${basename(file)}`,
      url: pathToFileURL(file).toString(),
      sampling: { mode: 'fps', fps: opts.fps },
    });
    const kafka = createKafka(conn, logger);
    await ensureTopics(kafka, conn, [TOPICS.frames, TOPICS.control]);
    if (cfg.brokers) stops.push(() => dropTopics(kafka, logger));
    const analyzer: INestApplicationContext = await startAnalyzer(
      loadAnalyzerConfig({
        ...env,
        VIGIL_KAFKA_BROKERS: brokers.join(','),
        VIGIL_ANALYZER_HTTP_PORT: env.VIGIL_ANALYZER_HTTP_PORT ?? '0',
        VIGIL_ANALYZER_GROUP_ID: `vigil-replay-${run}`,
        VIGIL_OUTBOX_DIR: join(scratch, 'outbox'),
      }),
      logger,
    );
    stops.push(() => analyzer.close());

    const events = new Map<string, AnomalyEvent>();
    const summaries: Summary[] = [];
    let scored = 0;
    let wake: (() => void) | null = null;
    const anomalyRow = jsonRow(AnomalyEventSchema);
    const summaryRow = jsonRow(SummarySchema);
    const scoreRow = jsonRow(ScoreSampleSchema);
    const sub: KafkaSubscriber = await watchTopics(
      brokers,
      {
        groupId: `vigil-replay-${run}-watch`,
        topics: [TOPICS.anomalies.name, TOPICS.summaries.name, TOPICS.scores.name],
      },
      (m) => {
        if (m.key !== streamId || !m.value) return;
        if (m.topic === TOPICS.scores.name) {
          if (scoreRow(m.value).ok) scored++;
          wake?.();
        } else if (m.topic === TOPICS.anomalies.name) {
          const r = anomalyRow(m.value);
          if (r.ok) events.set(r.value.eventId, r.value);
        } else {
          const r = summaryRow(m.value);
          if (r.ok) summaries.push(r.value);
          wake?.();
        }
      },
      logger,
    );
    stops.push(() => sub.stop());
    const publisher = new KafkaPublisher(kafka, conn);
    await publisher.connect();
    stops.push(() => publisher.disconnect());

    const until = async (done: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!done() && Date.now() < deadline)
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      wake = null;
      return done();
    };

    const expected = Math.max(1, Math.floor(durationS * opts.fps));
    const t0 = Date.now() - Math.ceil(durationS * 1000);
    const started = performance.now();
    const drawn = { at: 0 };
    const draw = (final = false) => {
      const now = performance.now();
      if (!final && now - drawn.at < 250) return;
      drawn.at = now;
      const done = Math.min(1, scored / expected);
      const bar = '#'.repeat(Math.round(done * 30)).padEnd(30, '-');
      const wall = (now - started) / 1000;
      const speed = wall > 0 ? (Math.min(scored, expected) / opts.fps / wall).toFixed(1) : '–';
      opts.progress(
        `[${bar}] ${String(Math.round(done * 100)).padStart(3)}% ${clock(Math.min(scored, expected) / opts.fps)}/${clock(durationS)} · ${speed}× real time · ${events.size} events`,
        final,
      );
    };

    let seq = 0;
    try {
      for await (const jpeg of readFrames(
        ffmpeg,
        // file input for this run's own recording only: its directory, nothing a spec could say
        buildIngestArgs(spec, { ioTimeoutMs: 10_000, realtime: false, fileDirs: [dirname(file)] }),
      )) {
        const capturedAt = t0 + Math.round((seq * 1000) / opts.fps);
        await publisher.publish(TOPICS.frames.name, [
          frameMessage(spec, { image: jpeg, seq, runId: 'replay', capturedAt }, 'fps'),
        ]);
        seq++;
        // as fast as the analyzer scores them; a frame it never scores (dropped) holds us up at most 10 s
        await until(() => seq - scored <= IN_FLIGHT, 10_000);
        draw();
      }
    } catch (err) {
      if (err instanceof FrameReadError)
        throw new UsageError(`ffmpeg could not read ${fileArg}: ${err.lastStderr}`);
      throw err;
    }
    await until(() => scored >= seq, 15_000);
    // the clip's last stretch is narrated on request rather than waiting for a stride that never comes
    const ask: ControlMessage = {
      streamId,
      action: 'summarize',
      reason: 'end of replay',
      requestedAt: new Date().toISOString(),
    };
    await publisher.publish(TOPICS.control.name, [
      jsonMessage(ask, {
        type: CE_TYPES.control,
        source: 'urn:vigil:replay',
        id: randomUUID(),
        time: ask.requestedAt,
      }),
    ]);
    await until(() => summaries.some((s) => s.trigger === 'request'), 15_000);
    draw(true);
    return {
      streamId,
      durationS,
      samples: seq,
      wallS: (performance.now() - started) / 1000,
      startMs: t0,
      events: [...events.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt)),
      summaries: summaries.sort((a, b) => a.windowEnd.localeCompare(b.windowEnd)),
    };
  } finally {
    await stopAll();
  }
}

/** The table `vigil replay` prints: one row per event, in clip time (mm:ss from the clip's start). */
export function eventTable(r: ReplayResult): string[] {
  const at = (iso: string) => clock(Math.max(0, (Date.parse(iso) - r.startMs) / 1000));
  const rows = r.events.map((e) => [
    at(e.startedAt),
    e.endedAt ? at(e.endedAt) : 'open',
    e.kind,
    e.severity,
    e.peakScore.toFixed(2),
    e.description,
  ]);
  const head = ['start', 'end', 'kind', 'severity', 'peak', 'description'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return rows.length ? [line(head), ...rows.map(line)] : ['no anomaly events'];
}

/** The run's own topics, deleted from a shared broker when the replay ends (they hold nothing live). */
async function dropTopics(kafka: ReturnType<typeof createKafka>, logger: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = ALL_TOPICS.map((t) => t.name);
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: mine.filter((t) => existing.has(t)), timeout: 10_000 });
  } catch (err) {
    logger.warn(`could not delete the replay's topics: ${(err as Error).message}`);
  } finally {
    await admin.disconnect();
  }
}
