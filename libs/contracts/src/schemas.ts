import { z } from 'zod';
import { streamUrlProblem } from './stream-url.js';

const isoTime = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp');

export const StreamIdSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    'must be 1-63 characters of lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
  )
  .describe('Stable camera id; the Kafka key of every message about this stream');

export const SamplingSchema = z
  .object({
    mode: z.enum(['keyframes', 'fps', 'adaptive']).default('fps'),
    fps: z.number().positive().max(60).default(1).describe('Samples per second in fps mode'),
    burstFps: z.number().positive().max(60).default(5),
    burstSeconds: z.number().positive().max(600).default(10),
  })
  .strict();

export const RegionSchema = z
  .object({
    x: z.number().min(0).max(1),
    y: z.number().min(0).max(1),
    w: z.number().min(0).max(1),
    h: z.number().min(0).max(1),
  })
  .strict()
  .describe('Normalized box, origin top-left');

/** The classes the shipped detector (NanoDet, COCO) names; zone rules pick from these or "vehicle". */
export const DETECTOR_LABELS = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
] as const;
/** "vehicle" in a zone's classes stands for all of these. */
export const VEHICLE_CLASSES = ['car', 'truck', 'bus', 'motorcycle', 'bicycle'] as const;

export const ZoneSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 lowercase letters, digits, ".", "_" or "-"')
      .describe('Names the zone in events ("loading-bay")'),
    polygon: z
      .array(z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]))
      .min(3)
      .max(32)
      .describe(
        'Corners [x, y] as fractions of the picture (origin top-left); an object is in the zone when the bottom centre of its box (where it stands) is',
      ),
    classes: z
      .array(
        z.string().refine((c) => c === 'vehicle' || (DETECTOR_LABELS as readonly string[]).includes(c), {
          message: `must be "vehicle" or a detector class: ${DETECTOR_LABELS.join(', ')}`,
        }),
      )
      .min(1)
      .max(80)
      .default(['person'])
      .describe(
        'What the rules count: detector classes, or "vehicle" for car, truck, bus, motorcycle, bicycle',
      ),
    forbidden: z
      .boolean()
      .default(false)
      .describe('Any of `classes` entering the zone is an anomaly (zone_entered)'),
    maxDwellS: z
      .number()
      .min(1)
      .max(86_400)
      .optional()
      .describe(
        'One of `classes` staying in the zone longer is an anomaly (loitering; a parked vehicle, a bag left behind)',
      ),
    maxCount: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe('More of `classes` in the zone at once is an anomaly (crowding)'),
    guardAfterS: z
      .number()
      .min(5)
      .max(86_400)
      .optional()
      .describe(
        'One of `classes` that has stood in the zone this long is guarded: taken away (gone for 10 s) it is an anomaly (object_removed), which ends when it is back or after a minute',
      ),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  })
  .strict()
  .refine(
    (zone) =>
      zone.forbidden ||
      zone.maxDwellS !== undefined ||
      zone.maxCount !== undefined ||
      zone.guardAfterS !== undefined,
    {
      message: 'a zone needs a rule: forbidden: true, maxDwellS, maxCount or guardAfterS',
      path: ['forbidden'],
    },
  )
  .describe('A part of the picture and what is an anomaly there');
export type Zone = z.output<typeof ZoneSchema>;

export const StreamSpecSchema = z
  .object({
    id: StreamIdSchema,
    name: z.string().max(200).optional(),
    url: z
      .string()
      .min(1)
      .max(2048)
      .describe(
        'rtsp(s), rtmp(s), srt, http(s); file:///… only under a directory the operator lists in VIGIL_FILE_INPUT_DIRS. No credentials: user, password or a token in the query go in a secret (credentials)',
      ),
    enabled: z.boolean().default(true),
    sampling: SamplingSchema.default({ mode: 'fps', fps: 1, burstFps: 5, burstSeconds: 10 }),
    output: z
      .object({
        width: z.number().int().min(16).max(4096).default(640),
        height: z.number().int().min(16).max(4096).default(360),
      })
      .strict()
      .default({ width: 640, height: 360 }),
    rtspTransport: z.enum(['tcp', 'udp']).default('tcp'),
    labels: z.record(z.string(), z.string().max(200)).default({}),
    replay: z
      .boolean()
      .default(false)
      .refine((v) => !v, {
        message:
          'replay no longer grants file input: backtest a recording with `vigil replay <file>`, or have the operator list its directory in VIGIL_FILE_INPUT_DIRS (and leave replay out)',
      })
      .describe('Always false; kept so that specs stored before it was retired still load'),
    analysis: z
      .object({
        sensitivity: z
          .number()
          .min(0.25)
          .max(4)
          .default(1)
          .describe('Anomaly sensitivity: 2 flags half the departure from normal that 1 does, 0.5 twice'),
        ignore: z
          .array(RegionSchema)
          .max(16)
          .default([])
          .describe('Regions never scored (a clock, a flag, a screen), normalized boxes of the picture'),
        context: z
          .string()
          .max(500)
          .optional()
          .describe('What is normal here, for the decoder ("a loading dock; forklifts move all day")'),
        summaryIntervalS: z
          .number()
          .min(1)
          .max(3600)
          .optional()
          .describe('Seconds between this camera’s window summaries (default: the analyzer’s)'),
        windowS: z
          .number()
          .min(1)
          .max(7200)
          .optional()
          .describe('Seconds a summary window covers, at least summaryIntervalS (default: twice it)'),
        zones: z
          .array(ZoneSchema)
          .max(16)
          .default([])
          .refine((zs) => new Set(zs.map((zone) => zone.name)).size === zs.length, {
            message: 'zone names must be unique',
          })
          .describe('Zones and their rules, checked against the tracked objects the detector finds'),
      })
      .strict()
      .refine((a) => a.windowS === undefined || a.windowS >= (a.summaryIntervalS ?? 1), {
        message: 'windowS must be at least summaryIntervalS',
        path: ['windowS'],
      })
      .default({ sensitivity: 1, ignore: [], zones: [] }),
    credentials: z
      .object({
        secret: z
          .string()
          .regex(
            /^[a-z0-9][a-z0-9._-]{0,252}$/,
            'must be a secret name: lowercase letters, digits, ".", "_", "-"',
          )
          .describe('Name of the secret holding username and password; resolved by ingest, never sent on'),
        queryParam: z
          .string()
          .regex(
            /^[A-Za-z0-9._~-]{1,64}$/,
            'must be a query parameter name (letters, digits, ".", "_", "~", "-")',
          )
          .optional()
          .describe(
            'Put the secret’s password into this query parameter (e.g. access_token) instead of the URL’s user info',
          ),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    // the form only: the gateway and ingest apply their operator's directories and networks on top
    const problem = streamUrlProblem(spec.url, { fileDirs: 'any' });
    if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: `stream URL ${problem}` });
  })
  .meta({ id: 'StreamSpec', title: 'StreamSpec', description: 'One camera Vigil watches.' });
export type StreamSpec = z.output<typeof StreamSpecSchema>;
export type StreamSpecInput = z.input<typeof StreamSpecSchema>;

export const FrameMetaSchema = z
  .object({
    streamId: StreamIdSchema,
    seq: z.number().int().nonnegative().describe('Sample number since this ingest run started'),
    runId: z.string().min(1).describe('Changes whenever ffmpeg is (re)started for the stream'),
    capturedAt: isoTime.describe('Wall-clock time the sample was read from ffmpeg'),
    ptsSeconds: z.number().nonnegative().optional().describe('Presentation time in the source stream'),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    sampling: z.enum(['keyframes', 'fps', 'burst']),
  })
  .strict()
  .meta({
    id: 'FrameMeta',
    title: 'FrameMeta',
    description: 'Header vigil_meta of a vigil.frames.v1 message.',
  });
export type FrameMeta = z.output<typeof FrameMetaSchema>;

export const StreamStateSchema = z.enum(['starting', 'running', 'stalled', 'backoff', 'stopped']);
export type StreamState = z.output<typeof StreamStateSchema>;

export const StreamStatusSchema = z
  .object({
    streamId: StreamIdSchema,
    state: StreamStateSchema,
    online: z.boolean(),
    health: z
      .enum(['online', 'degraded', 'offline', 'stopped'])
      .describe('offline: unreachable; degraded: reachable but its data cannot be used (garbage, codec)'),
    at: isoTime,
    fpsIn: z.number().nonnegative().describe('Samples per second read from ffmpeg, last interval'),
    fpsOut: z.number().nonnegative().describe('Frames per second published, last interval'),
    framesOut: z.number().int().nonnegative(),
    drops: z.number().int().nonnegative(),
    restarts: z.number().int().nonnegative(),
    lastFrameAt: isoTime.nullable(),
    lastFrameAgeS: z.number().nonnegative().nullable(),
    lastError: z.string().max(2000).nullable().describe('Credentials are always redacted'),
  })
  .strict()
  .meta({
    id: 'StreamStatus',
    title: 'StreamStatus',
    description: 'Camera health on vigil.stream-status.v1.',
  });
export type StreamStatus = z.output<typeof StreamStatusSchema>;

export const AnomalyKindSchema = z.enum([
  'object_appeared',
  'lens_covered',
  'blur',
  'camera_moved',
  'frozen',
  'too_dark',
  'overexposed',
  'activity_stopped',
  'zone_entered',
  'loitering',
  'crowding',
  'object_removed',
  'model.flagged',
]);
export type AnomalyKind = z.output<typeof AnomalyKindSchema>;

export const TrackedObjectSchema = z
  .object({
    trackId: z.string().min(1).max(32).describe('Stable while the tracker follows the object on this camera'),
    label: z.string().min(1).max(50).describe('The detector class ("person", "car")'),
    score: z.number().min(0).max(1),
    box: RegionSchema,
    dwellS: z.number().min(0).describe('Seconds since the tracker first saw it'),
  })
  .strict()
  .describe('An object the detector found and the tracker follows');
export type TrackedObject = z.output<typeof TrackedObjectSchema>;

export const AnomalyEventSchema = z
  .object({
    eventId: z.uuid().describe('Deterministic: same stream, kind and start time give the same id'),
    streamId: StreamIdSchema,
    phase: z.enum(['start', 'update', 'end']),
    kind: AnomalyKindSchema,
    severity: z.enum(['info', 'warning', 'critical']),
    score: z.number().min(0).describe('Score of the sample that produced this message'),
    peakScore: z.number().min(0),
    startedAt: isoTime,
    observedAt: isoTime,
    endedAt: isoTime.optional(),
    region: RegionSchema.optional(),
    zone: z
      .string()
      .max(63)
      .optional()
      .describe('The zone whose rule raised it (zone_entered, loitering, crowding)'),
    objects: z
      .array(TrackedObjectSchema)
      .max(50)
      .optional()
      .describe('The tracked objects behind a zone event, with their track ids'),
    description: z.string().min(1).max(1000),
    endReason: z.string().max(200).optional(),
    evidence: z
      .object({ mime: z.literal('image/jpeg'), base64: z.string().max(64_000) })
      .strict()
      .optional(),
    finding: z
      .object({
        kind: z.string().min(1).max(100).describe('What the model named it'),
        confidence: z.number().min(0).max(1),
        decoder: z.string().min(1),
        model: z.string().optional(),
        summaryId: z.uuid().describe('The summary of the window the finding came from'),
      })
      .strict()
      .optional()
      .describe(
        'A decoder finding behind this message: a model.flagged event, or a detector event the model confirmed',
      ),
  })
  .strict()
  .meta({ id: 'AnomalyEvent', title: 'AnomalyEvent', description: 'An anomaly on vigil.anomalies.v1.' });
export type AnomalyEvent = z.output<typeof AnomalyEventSchema>;

export const FindingSchema = z
  .object({
    kind: z.string().min(1).max(100),
    description: z.string().min(1).max(1000),
    severity: z.enum(['info', 'warning', 'critical']),
    confidence: z.number().min(0).max(1),
  })
  .strict();

export const SummarySchema = z
  .object({
    summaryId: z.uuid().describe('Deterministic: same stream, level, trigger and window give the same id'),
    streamId: StreamIdSchema,
    level: z.enum(['window', 'minute', 'hour']),
    trigger: z
      .enum(['cadence', 'anomaly', 'request'])
      .default('cadence')
      .describe('Why the window was narrated: its stride came round, an anomaly started, or someone asked'),
    windowStart: isoTime,
    windowEnd: isoTime,
    text: z.string().min(1).max(4000),
    findings: z.array(FindingSchema).max(20).default([]).describe('What the decoder noticed'),
    eventIds: z
      .array(z.uuid())
      .max(200)
      .default([])
      .describe('The anomaly events (vigil.anomalies.v1 eventId) that started or ran inside the window'),
    decoder: z
      .object({
        type: z.string().min(1),
        model: z.string().optional(),
        fallback: z
          .boolean()
          .describe('True when the configured decoder failed and grounded narrated instead'),
        latencyMs: z.number().nonnegative().optional(),
        tokens: z
          .object({ prompt: z.number().int().nonnegative(), completion: z.number().int().nonnegative() })
          .strict()
          .optional(),
      })
      .strict(),
    stats: z
      .object({
        frames: z.number().int().nonnegative(),
        meanChange: z.number().min(0).max(1),
        maxChange: z.number().min(0).max(1),
        anomalies: z.number().int().nonnegative(),
        windows: z.number().int().nonnegative().optional().describe('Rollups: the summaries rolled up'),
      })
      .strict(),
    createdAt: isoTime,
  })
  .strict()
  .meta({ id: 'Summary', title: 'Summary', description: 'A narrated summary on vigil.summaries.v1.' });
export type Summary = z.output<typeof SummarySchema>;

export const ControlMessageSchema = z
  .object({
    streamId: StreamIdSchema,
    action: z
      .enum(['burst', 'summarize'])
      .describe(
        'burst: ingest samples at the stream’s burstFps for `seconds` (adaptive sampling); summarize: the analyzer narrates the stream’s latest window now',
      ),
    seconds: z.number().positive().max(600).optional().describe('Defaults to the stream’s burstSeconds'),
    reason: z.string().max(200),
    requestedAt: isoTime,
  })
  .strict()
  .meta({
    id: 'ControlMessage',
    title: 'ControlMessage',
    description: 'A request to ingest (burst) or to the analyzer (summarize) on vigil.control.v1.',
  });
export type ControlMessage = z.output<typeof ControlMessageSchema>;

/** A model's name, as its folder under models/ is named. */
const modelName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be lowercase letters, digits, ".", "_", "-"');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be the 64-hex-digit sha256 of the file');

/** An image model's input: one NCHW float tensor, per-channel (v/255 - mean) / std. */
const modelInput = z
  .object({
    name: z.string().min(1),
    layout: z.literal('NCHW'),
    width: z.number().int().min(8).max(4096),
    height: z.number().int().min(8).max(4096),
    colorOrder: z.enum(['RGB', 'BGR']),
    mean: z.tuple([z.number(), z.number(), z.number()]).describe('Per channel, on the 0..1 scale'),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  })
  .strict();

export const ModelManifestSchema = z
  .object({
    name: modelName,
    description: z.string().max(2000),
    licence: z.string().min(1).max(200),
    file: z.string().min(1).describe('ONNX file, relative to the manifest'),
    sha256: sha256Hex,
    input: modelInput,
    output: z
      .object({
        name: z.string().min(1),
        tokenGrid: z
          .tuple([z.number().int().positive(), z.number().int().positive()])
          .describe('[rows, cols]'),
        tokenDims: z.number().int().positive(),
      })
      .strict(),
  })
  .strict()
  .meta({
    id: 'ModelManifest',
    title: 'ModelManifest',
    description: 'models/<name>/model.json: a vision encoder [N,3,H,W] → [N,T,D].',
  });
export type ModelManifest = z.output<typeof ModelManifestSchema>;

export const DetectorManifestSchema = z
  .object({
    name: modelName,
    description: z.string().max(2000),
    licence: z.string().min(1).max(200),
    source: z
      .object({ package: z.string().min(1), version: z.string().min(1), file: z.string().min(1) })
      .strict()
      .describe('Where the trained weights come from (npm run models converts them)'),
    file: z.string().min(1).describe('ONNX file, relative to the manifest'),
    sha256: sha256Hex,
    input: modelInput,
    head: z
      .object({
        kind: z.literal('gfl').describe('Per stride: class scores (sigmoid) and box-side distributions'),
        regMax: z.number().int().positive().describe('Bins per box side are regMax + 1'),
        levels: z
          .array(
            z
              .object({
                stride: z.number().int().positive(),
                scores: z.string().min(1),
                boxes: z.string().min(1),
              })
              .strict(),
          )
          .min(1),
      })
      .strict(),
    classes: z.array(z.string().min(1)).min(1).describe('Class names by index'),
  })
  .strict()
  .meta({
    id: 'DetectorManifest',
    title: 'DetectorManifest',
    description: 'models/<name>/model.json of an object detector: [N,3,H,W] → per-stride scores and boxes.',
  });
export type DetectorManifest = z.output<typeof DetectorManifestSchema>;

const modelFile = z
  .object({
    file: z.string().min(1).describe('Relative to the manifest'),
    sha256: sha256Hex,
  })
  .strict();

export const DecoderManifestSchema = z
  .object({
    name: modelName,
    description: z.string().max(2000),
    licence: z.string().min(1).max(200),
    files: z
      .object({
        decoder: modelFile.describe(
          'inputs_embeds, attention_mask, position_ids, past_key_values.{l}.key|value → logits, present.{l}.key|value',
        ),
        embed: modelFile.describe('input_ids → inputs_embeds'),
        projector: modelFile.describe('vision tokens [N, T, D] → image_embeds [N, T′, hidden]'),
        tokenizer: modelFile.describe('Hugging Face tokenizer.json (byte-level BPE)'),
      })
      .strict(),
    architecture: z
      .object({
        hidden: z.number().int().positive(),
        layers: z.number().int().positive(),
        kvHeads: z.number().int().positive(),
        headDim: z.number().int().positive(),
        vocabSize: z.number().int().positive(),
        maxPositions: z.number().int().positive(),
        experts: z.number().int().positive().optional(),
        expertsPerToken: z.number().int().positive().optional(),
      })
      .strict(),
    vision: z
      .object({
        encoder: z.string().min(1).describe('The vision model whose tokens the projector takes'),
        tokenGrid: z.tuple([z.number().int().positive(), z.number().int().positive()]),
        tokenDims: z.number().int().positive(),
        tokensPerFrame: z.number().int().positive().describe('image_embeds per frame after the projector'),
      })
      .strict(),
    chat: z
      .object({
        template: z.literal('chatml').describe('<|im_start|>role\n…<|im_end|>'),
        stop: z.array(z.string().min(1)).min(1),
        visionStart: z.string().min(1),
        visionEnd: z.string().min(1),
      })
      .strict(),
  })
  .strict()
  .meta({
    id: 'DecoderManifest',
    title: 'DecoderManifest',
    description:
      'models/<name>/model.json of an in-process decoder: a decoder-only ONNX model in the Hugging Face export layout, its embedding and vision projector, and its tokenizer.',
  });
export type DecoderManifest = z.output<typeof DecoderManifestSchema>;

export const EmbedderManifestSchema = z
  .object({
    name: modelName,
    description: z.string().max(2000),
    licence: z.string().min(1).max(200),
    source: z
      .object({
        maven: z
          .string()
          .regex(/^[\w.-]+:[\w.-]+:[\w.-]+$/, 'must be group:artifact:version')
          .describe('The Maven Central jar that holds the model (tools/kafka/pom.xml fetches it)'),
        model: z.string().min(1).describe('The ONNX file inside the jar'),
        tokenizer: z.string().min(1).describe('The tokenizer.json inside the jar'),
      })
      .strict(),
    files: z
      .object({
        model: modelFile.describe(
          'input_ids, attention_mask, token_type_ids → last_hidden_state [N, T, dims]',
        ),
        tokenizer: modelFile.describe('Hugging Face tokenizer.json (WordPiece)'),
      })
      .strict(),
    dims: z.number().int().positive().describe('Length of an embedding'),
    maxTokens: z.number().int().min(8).max(512).describe('Longer texts are cut to this many tokens'),
    pooling: z
      .literal('mean')
      .describe('Mean of the token states under the attention mask, then L2-normalised'),
  })
  .strict()
  .meta({
    id: 'EmbedderManifest',
    title: 'EmbedderManifest',
    description:
      'models/<name>/model.json of a text embedding model: a BERT-class ONNX encoder and its tokenizer, mean-pooled and normalised.',
  });
export type EmbedderManifest = z.output<typeof EmbedderManifestSchema>;

export const ScoreSampleSchema = z
  .object({
    streamId: StreamIdSchema,
    capturedAt: isoTime.describe('The sample this score is of'),
    learning: z.boolean().describe('The stream’s normal is still being learned: no scores yet'),
    score: z.number().min(0).describe('Highest detector score of the sample; 1 is the alarm threshold'),
    kind: AnomalyKindSchema.optional().describe('The detector with the highest score'),
    novelFraction: z.number().min(0).max(1).describe('Share of the picture unlike its usual look'),
    objects: z
      .array(TrackedObjectSchema)
      .max(100)
      .optional()
      .describe('What the detector and tracker see in the sample (absent when detection is off)'),
  })
  .strict()
  .meta({
    id: 'ScoreSample',
    title: 'ScoreSample',
    description: 'A sample’s anomaly score on vigil.scores.v1 (sparklines, evaluation, threshold tuning).',
  });
export type ScoreSample = z.output<typeof ScoreSampleSchema>;

export const BaselineRecordSchema = z
  .object({
    streamId: StreamIdSchema,
    model: z.string().min(1).describe('The vision encoder the baseline was learned with'),
    tokenGrid: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    tokenDims: z.number().int().positive(),
    samples: z.number().int().nonnegative().describe('Normal samples learned'),
    savedAt: isoTime,
    snapshot: z
      .looseObject({ v: z.literal(1) })
      .describe('The learned normal (patch bank, usual distances, health norms); opaque to consumers'),
  })
  .strict()
  .meta({
    id: 'BaselineRecord',
    title: 'BaselineRecord',
    description: 'A stream’s learned normal on the compacted vigil.baselines.v1, keyed by streamId.',
  });
export type BaselineRecord = z.output<typeof BaselineRecordSchema>;

/** The message schemas whose JSON Schema is generated into libs/contracts/schemas/. */
export const EventStateSchema = z
  .object({
    streamId: StreamIdSchema,
    owner: z.string().min(1).describe('The analyzer instance that holds the stream (or "janitor")'),
    heartbeatAt: isoTime.describe('When the owner last vouched for these events'),
    open: z
      .array(
        z
          .object({
            eventId: z.uuid(),
            kind: AnomalyKindSchema,
            severity: z.enum(['info', 'warning', 'critical']),
            startedAt: isoTime,
            peakScore: z.number().min(0),
            region: RegionSchema.optional(),
            description: z.string().min(1).max(1000),
          })
          .strict(),
      )
      .max(64),
  })
  .strict()
  .meta({
    id: 'EventState',
    title: 'EventState',
    description:
      'The open anomaly events of one stream on vigil.event-state.v1 (compacted): a new owner resumes them; events nobody vouches for are closed.',
  });
export type EventState = z.output<typeof EventStateSchema>;

/** The header of a dead letter that says why the message was set aside and where it came from. */
export const DEAD_LETTER_HEADER = 'vigil_dlq';

export const DeadLetterSchema = z
  .object({
    reason: z.string().min(1).max(2000),
    topic: z.string().min(1).describe('The topic the message was read from'),
    partition: z.number().int().nonnegative(),
    offset: z
      .string()
      .regex(/^\d+$/)
      .describe('Its offset there (a decimal string, as Kafka offsets are 64-bit)'),
    app: z.string().min(1).describe('The app that gave up on it: ingest, analyzer or gateway'),
    groupId: z.string().min(1).describe('The consumer group it was read in'),
    at: isoTime,
  })
  .strict()
  .describe(
    'The vigil_dlq header of a vigil.dlq.v1 message; the message key, value and other headers are the original, so it can be inspected or replayed as it was',
  );
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export const MESSAGE_SCHEMAS = {
  'stream-spec': StreamSpecSchema,
  'frame-meta': FrameMetaSchema,
  'stream-status': StreamStatusSchema,
  'anomaly-event': AnomalyEventSchema,
  summary: SummarySchema,
  control: ControlMessageSchema,
  'model-manifest': ModelManifestSchema,
  'decoder-manifest': DecoderManifestSchema,
  'detector-manifest': DetectorManifestSchema,
  'embedder-manifest': EmbedderManifestSchema,
  baseline: BaselineRecordSchema,
  score: ScoreSampleSchema,
  'dead-letter': DeadLetterSchema,
  'event-state': EventStateSchema,
} as const;
