// Diagnosis aid (not part of npm run eval): the real-footage streams of `eval --footage` through the frame
// path offline, at 1 sample a second, printing every event start and saving its frame with the region drawn.
//   node dist/test/diag/footage-diag.js [--phases 0,1,..] [--kind lens_covered] [--out /tmp/diag]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { AnomalyEvent, FrameMeta } from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { GroundedDecoder } from '@vigil/decoders';
import { Logger } from '@vigil/observability';
import { FOOTAGE, handOverLens, repoRoot, videoJpegs, withTimecode } from '@vigil/testing';
import { ObjectDetector } from '@vigil/vision';
import { FrameAnalysisService } from '../../apps/analyzer/src/frame-analysis.service.js';
import { VisionEncoderService } from '../../apps/analyzer/src/vision-encoder.service.js';
import { ObjectDetectorService } from '../../apps/analyzer/src/object-detector.service.js';
import { AnalyzerMetrics } from '../../apps/analyzer/src/analyzer-metrics.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const FPS = 5;
const CLIP_S = Number(arg('--seconds') ?? 900);
const phases = (arg('--phases') ?? '0,1,2,3,4,5,6,7').split(',').map(Number);
const kind = arg('--kind');
const out = arg('--out') ?? '/tmp/diag';
const T0 = Date.parse('2026-12-05T09:00:00.000Z');
const log = new Logger('diag', { level: 'error' });

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const forward = videoJpegs(join(repoRoot(), FOOTAGE), `fps=${FPS},crop=768:432:0:72,scale=640:360`);
  const footage = [...forward, ...[...forward].reverse()];
  const config = loadAnalyzerConfig({
    VIGIL_KAFKA_BROKERS: 'unused:9092',
    VIGIL_ANALYZER_WARMUP_SAMPLES: '55',
    VIGIL_SUMMARY_INTERVAL_S: '3600',
    VIGIL_DETECTOR: process.env.VIGIL_DETECTOR ?? 'nanodet-coco',
  });
  const metrics = new AnalyzerMetrics();
  const encoder = new VisionEncoderService(config, log, metrics);
  const det = new ObjectDetectorService(config, log, metrics, encoder);
  await encoder.onModuleInit();
  await det.onModuleInit();
  const probe = await ObjectDetector.load(join(repoRoot(), 'models/nanodet-coco/model.json'), {
    provider: { kind: 'cpu' },
    intraOpThreads: 1,
  });
  const analysis = new FrameAnalysisService(config, new GroundedDecoder(), log, encoder, det);
  let total = 0;
  for (const n of phases) {
    const phase = (n * 37 * FPS) % footage.length;
    for (let s = 0; s < CLIP_S; s++) {
      const i = s * FPS;
      let jpeg = footage[(i + phase) % footage.length]!;
      if (kind === 'lens_covered' && [75, 400, 750].some((a) => s >= a && s < a + 15))
        jpeg = await (await handOverLens(jpeg, 640, 360, i)).jpeg().toBuffer();
      jpeg = await withTimecode(jpeg, i);
      const meta: FrameMeta = {
        streamId: `diag-${n}`,
        seq: s,
        runId: 'run-1',
        capturedAt: new Date(T0 + s * 1000).toISOString(),
        width: 640,
        height: 360,
        sampling: 'fps',
      };
      const r = await analysis.analyze(meta, jpeg);
      for (const e of r.anomalies.filter((a: AnomalyEvent) => a.phase === 'start')) {
        total++;
        const reg = e.region;
        console.log(
          `phase ${n} t=${s}s ${e.kind} region=${reg ? [reg.x, reg.y, reg.w, reg.h].map((v) => v.toFixed(2)).join(',') : '-'} ${e.description}`,
        );
        if (reg) {
          const [dets] = await probe.detect([jpeg], { minScore: 0.05 });
          const near = dets!.filter(
            (d) =>
              d.box[0] < reg.x + reg.w &&
              d.box[0] + d.box[2] > reg.x &&
              d.box[1] < reg.y + reg.h &&
              d.box[1] + d.box[3] > reg.y,
          );
          console.log(
            `   detections over it: ${near.map((d) => `${d.label} ${d.score.toFixed(2)} [${d.box.map((v) => v.toFixed(2)).join(',')}]`).join('; ') || 'none'}`,
          );
          console.log(`   tracks: ${JSON.stringify(r.score?.objects ?? null)}`);
        }
        const svg = reg
          ? `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360"><rect x="${reg.x * 640}" y="${reg.y * 360}" width="${reg.w * 640}" height="${reg.h * 360}" fill="none" stroke="red" stroke-width="3"/></svg>`
          : null;
        const img = svg ? sharp(jpeg).composite([{ input: Buffer.from(svg) }]) : sharp(jpeg);
        writeFileSync(join(out, `p${n}-t${s}-${e.kind}.png`), await img.png().toBuffer());
      }
      if (process.env.DIAG_TRACE && kind && [750, 751, 752, 753, 755, 760].includes(s))
        console.log(`phase ${n} t=${s}s trace ${JSON.stringify(r)}`.slice(0, 2000));
    }
    console.log(`phase ${n} done; ${total} starts so far`);
  }
  await encoder.onApplicationShutdown();
  await det.onApplicationShutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
