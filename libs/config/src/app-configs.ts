import { z } from 'zod';
import { StreamSpecSchema, cameraNetworksProblem, streamUrlProblem } from '@vigil/contracts';
import { type Env, type EnvBinding, loadConfig } from './config.js';

const brokerList = z
  .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'each broker must be host:port'))
  .min(1, 'give at least one broker');

/** How the apps authenticate to Kafka and encrypt the connection (every app and the CLI). */
const kafkaSecuritySchema = {
  saslMechanism: z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512']).default('none'),
  saslUsername: z.string().default(''),
  saslPasswordFile: z.string().default(''),
  tls: z.boolean().default(false),
  tlsCaFile: z.string().default(''),
  tlsCertFile: z.string().default(''),
  tlsKeyFile: z.string().default(''),
};

const kafkaSchema = {
  brokers: brokerList,
  clientId: z.string().min(1).default('vigil'),
  connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
  ...kafkaSecuritySchema,
};

type KafkaSecuritySettings = z.output<z.ZodObject<typeof kafkaSecuritySchema>>;

/** The settings that only make sense together: a SASL login needs a user and a password file, etc. */
function refineKafkaSecurity(c: KafkaSecuritySettings, ctx: z.RefinementCtx): void {
  if (c.saslMechanism !== 'none') {
    if (!c.saslUsername)
      ctx.addIssue({
        code: 'custom',
        path: ['saslUsername'],
        message: `SASL ${c.saslMechanism} needs a user name`,
      });
    if (!c.saslPasswordFile)
      ctx.addIssue({
        code: 'custom',
        path: ['saslPasswordFile'],
        message: `SASL ${c.saslMechanism} needs the file holding the password (a mounted secret)`,
      });
  } else if (c.saslUsername || c.saslPasswordFile)
    ctx.addIssue({
      code: 'custom',
      path: ['saslMechanism'],
      message:
        'a SASL user or password file is set but no mechanism: set plain, scram-sha-256 or scram-sha-512',
    });
  if (Boolean(c.tlsCertFile) !== Boolean(c.tlsKeyFile))
    ctx.addIssue({
      code: 'custom',
      path: [c.tlsCertFile ? 'tlsKeyFile' : 'tlsCertFile'],
      message: 'a client certificate needs both its certificate and its key file',
    });
  if (!c.tls && (c.tlsCaFile || c.tlsCertFile || c.tlsKeyFile))
    ctx.addIssue({
      code: 'custom',
      path: ['tls'],
      message: 'TLS files are set but TLS is off: set VIGIL_KAFKA_TLS=true',
    });
}
const kafkaBindings = {
  brokers: {
    env: 'VIGIL_KAFKA_BROKERS',
    parse: 'list',
    hint: 'comma-separated host:port, e.g. localhost:9092',
  },
  clientId: { env: 'VIGIL_KAFKA_CLIENT_ID', hint: 'any non-empty name' },
  connectTimeoutMs: {
    env: 'VIGIL_KAFKA_CONNECT_TIMEOUT_MS',
    parse: 'number',
    hint: 'milliseconds, 100-120000',
  },
  saslMechanism: {
    env: 'VIGIL_KAFKA_SASL_MECHANISM',
    hint: 'none, plain, scram-sha-256 or scram-sha-512 (use TLS with plain: it sends the password as is)',
  },
  saslUsername: { env: 'VIGIL_KAFKA_SASL_USERNAME', hint: 'the SASL user' },
  saslPasswordFile: {
    env: 'VIGIL_KAFKA_SASL_PASSWORD_FILE',
    hint: 'file holding the SASL password (a mounted secret; never the password itself in the environment)',
  },
  tls: { env: 'VIGIL_KAFKA_TLS', parse: 'boolean', hint: 'true to connect to the brokers over TLS' },
  tlsCaFile: {
    env: 'VIGIL_KAFKA_TLS_CA_FILE',
    hint: "PEM file of the CA(s) that signed the brokers' certificates (default: the system's CAs)",
  },
  tlsCertFile: {
    env: 'VIGIL_KAFKA_TLS_CERT_FILE',
    hint: 'PEM client certificate, for brokers that require one (mTLS)',
  },
  tlsKeyFile: { env: 'VIGIL_KAFKA_TLS_KEY_FILE', hint: 'PEM private key of the client certificate' },
} as const satisfies Record<string, EnvBinding>;

const logSchema = {
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  logFormat: z.enum(['text', 'json']).default('text'),
};
const logBindings = {
  logLevel: { env: 'VIGIL_LOG_LEVEL', hint: 'one of debug, info, warn, error' },
  logFormat: { env: 'VIGIL_LOG_FORMAT', hint: 'text or json' },
} as const satisfies Record<string, EnvBinding>;

/**
 * What camera URLs may lead to, for every app that checks them (ingest before each ffmpeg start, the
 * gateway when a spec is written): the directories file input may read, and the camera networks.
 */
const cameraPolicySchema = {
  fileInputDirs: z.array(z.string().regex(/^\//, 'each directory must be an absolute path')).default([]),
  cameraNetworks: z.array(z.string()).default([]),
  cameraDenyNetworks: z.array(z.string()).default([]),
};
const cameraPolicyBindings = {
  fileInputDirs: {
    env: 'VIGIL_FILE_INPUT_DIRS',
    parse: 'list',
    hint: 'comma-separated absolute directories whose recordings may be read as file:/// cameras (empty: file input is off; `vigil replay` needs none)',
  },
  cameraNetworks: {
    env: 'VIGIL_CAMERA_NETWORKS',
    parse: 'list',
    hint: 'comma-separated CIDRs cameras may be at, e.g. 10.20.0.0/16,192.168.7.0/24 (empty: anywhere but link-local and metadata addresses)',
  },
  cameraDenyNetworks: {
    env: 'VIGIL_CAMERA_DENY_NETWORKS',
    parse: 'list',
    hint: 'comma-separated CIDRs cameras may never be at (besides link-local and metadata addresses, always refused unless VIGIL_CAMERA_NETWORKS lists them)',
  },
} as const satisfies Record<string, EnvBinding>;

type CameraPolicySettings = z.output<z.ZodObject<typeof cameraPolicySchema>>;

/** The policy that streamUrlProblem and the stream supervisor take, from an app's settings. */
export function cameraPolicy(c: CameraPolicySettings) {
  return {
    fileDirs: c.fileInputDirs,
    networks: { allow: c.cameraNetworks, deny: c.cameraDenyNetworks },
  };
}

function refineCameraPolicy(
  c: CameraPolicySettings & { streams?: readonly { url: string }[] },
  ctx: z.RefinementCtx,
): void {
  const problem = cameraNetworksProblem({ allow: c.cameraNetworks, deny: c.cameraDenyNetworks });
  if (problem) {
    ctx.addIssue({
      code: 'custom',
      path: [problem.startsWith('VIGIL_CAMERA_DENY') ? 'cameraDenyNetworks' : 'cameraNetworks'],
      message: problem.replace(/^VIGIL_CAMERA_[A-Z_]+ /, ''),
    });
    return;
  }
  c.streams?.forEach((s, i) => {
    // a URL wrong in itself is the spec schema's to report; this adds the operator's directories and networks
    if (streamUrlProblem(s.url, { fileDirs: 'any' })) return;
    const p = streamUrlProblem(s.url, cameraPolicy(c));
    if (p) ctx.addIssue({ code: 'custom', path: ['streams', i, 'url'], message: `stream URL ${p}` });
  });
}

export const IngestConfigSchema = z
  .object({
    ...kafkaSchema,
    ...logSchema,
    streams: z.array(StreamSpecSchema).default([]),
    stallTimeoutMs: z.number().int().min(1_000).max(600_000).default(15_000),
    rtspTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
    backoffInitialMs: z.number().int().min(50).max(60_000).default(1_000),
    backoffMaxMs: z.number().int().min(100).max(600_000).default(30_000),
    statusIntervalMs: z.number().int().min(500).max(600_000).default(10_000),
    ffmpegPath: z.string().min(1).default('ffmpeg'),
    secretsDir: z.string().min(1).default('/run/secrets/vigil'),
    httpPort: z.number().int().min(0).max(65535).default(9464),
    assignment: z.enum(['kafka', 'static']).default('kafka'),
    groupId: z.string().min(1).default('vigil-ingest'),
    sessionTimeoutMs: z.number().int().min(6_000).max(300_000).default(10_000),
    queueFrames: z.number().int().min(1).max(1000).default(8),
    changeThreshold: z.number().gt(0).lt(1).default(0.04),
    ...cameraPolicySchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    refineKafkaSecurity(c, ctx);
    refineCameraPolicy(c, ctx);
  });
export type IngestConfig = z.output<typeof IngestConfigSchema>;

const ingestBindings = {
  ...kafkaBindings,
  ...logBindings,
  ...cameraPolicyBindings,
  streams: {
    env: 'VIGIL_STREAMS',
    parse: 'json',
    hint: 'a JSON array of StreamSpec, e.g. [{"id":"cam-1","url":"rtsp://cam/stream"}]',
  },
  stallTimeoutMs: {
    env: 'VIGIL_INGEST_STALL_TIMEOUT_MS',
    parse: 'number',
    hint: 'milliseconds, 1000-600000',
  },
  rtspTimeoutMs: { env: 'VIGIL_INGEST_RTSP_TIMEOUT_MS', parse: 'number', hint: 'milliseconds, 500-120000' },
  backoffInitialMs: {
    env: 'VIGIL_INGEST_BACKOFF_INITIAL_MS',
    parse: 'number',
    hint: 'milliseconds, 50-60000',
  },
  backoffMaxMs: { env: 'VIGIL_INGEST_BACKOFF_MAX_MS', parse: 'number', hint: 'milliseconds, 100-600000' },
  statusIntervalMs: {
    env: 'VIGIL_INGEST_STATUS_INTERVAL_MS',
    parse: 'number',
    hint: 'milliseconds, 500-600000',
  },
  ffmpegPath: { env: 'VIGIL_FFMPEG_PATH', hint: 'path to the ffmpeg binary' },
  assignment: {
    env: 'VIGIL_INGEST_ASSIGNMENT',
    hint: 'kafka (run the streams of vigil.streams.v1 partitions this worker owns, plus VIGIL_STREAMS) or static (VIGIL_STREAMS only)',
  },
  groupId: {
    env: 'VIGIL_INGEST_GROUP_ID',
    hint: 'Kafka consumer group shared by the ingest workers of one site',
  },
  sessionTimeoutMs: {
    env: 'VIGIL_INGEST_SESSION_TIMEOUT_MS',
    parse: 'number',
    hint: 'milliseconds, 6000-300000: how soon a dead worker is noticed and its streams move',
  },
  httpPort: {
    env: 'VIGIL_INGEST_HTTP_PORT',
    parse: 'number',
    hint: 'TCP port for /metrics, /health/live and /health/ready (0 picks a free one)',
  },
  queueFrames: {
    env: 'VIGIL_INGEST_QUEUE_FRAMES',
    parse: 'number',
    hint: 'frames buffered per stream while Kafka is slow, 1-1000',
  },
  changeThreshold: {
    env: 'VIGIL_INGEST_CHANGE_THRESHOLD',
    parse: 'number',
    hint: 'mean luma change between consecutive keyframes (fraction, e.g. 0.04) that starts a burst in adaptive mode',
  },

  secretsDir: {
    env: 'VIGIL_SECRETS_DIR',
    hint: 'directory of camera secrets: <name>/username and <name>/password, or <name>.username and <name>.password',
  },
} as const satisfies Record<keyof z.input<typeof IngestConfigSchema>, EnvBinding>;

export function loadIngestConfig(env: Env): IngestConfig {
  return loadConfig(IngestConfigSchema, ingestBindings, env);
}

export const AnalyzerConfigSchema = z
  .object({
    ...kafkaSchema,
    ...logSchema,
    groupId: z.string().min(1).default('vigil-analyzer'),
    summaryIntervalS: z.number().min(1).max(3600).default(10),
    windowS: z.number().min(0).max(7200).default(0),
    windowTokenBudget: z.number().int().min(0).max(1_000_000).default(1024),
    windowMergeBelow: z.number().min(0).max(1).default(0.01),
    rollupMinuteS: z.number().min(1).max(3600).default(60),
    rollupHourS: z.number().min(1).max(86_400).default(3600),
    warmupSamples: z.number().int().min(5).max(100_000).default(120),
    sensitivity: z.number().min(0.25).max(4).default(1),
    eventMinDurationMs: z.number().int().min(0).max(600_000).default(1000),
    eventExitHoldMs: z.number().int().min(0).max(600_000).default(2000),
    eventCooldownS: z.number().min(0).max(86_400).default(10),
    eventUpdateS: z.number().min(1).max(86_400).default(10),
    eventStaleS: z.number().min(5).max(86_400).default(60),
    baselineSaveS: z.number().min(5).max(86_400).default(300),
    decoderType: z.enum(['grounded', 'openai', 'onnx']).default('grounded'),
    decoderProvider: z
      .string()
      .regex(/^(cpu|cuda(:\d+)?)$/, 'must be cpu, cuda or cuda:<device id>')
      .default('cpu'),
    decoderThreads: z.number().int().min(1).max(64).default(1),
    decoderBatch: z.number().int().min(1).max(256).default(8),
    decoderMaxTokens: z.number().int().min(8).max(4096).default(160),
    decoderUrl: z.string().default(''),
    decoderModel: z.string().default(''),
    decoderApiKeyFile: z.string().default(''),
    decoderTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    decoderRetries: z.number().int().min(0).max(10).default(2),
    decoderConcurrency: z.number().int().min(1).max(256).default(4),
    decoderQueue: z.number().int().min(1).max(10_000).default(64),
    decoderBreakerFailures: z.number().int().min(1).max(1000).default(5),
    decoderBreakerOpenS: z.number().min(1).max(3600).default(30),
    patchThreshold: z.number().gt(0).max(10).default(0.05),
    visionModel: z.string().default(''),
    visionProvider: z
      .string()
      .regex(/^(cpu|cuda(:\d+)?)$/, 'must be cpu, cuda or cuda:<device id>')
      .default('cpu'),
    visionThreads: z.number().int().min(1).max(64).default(1),
    visionMaxBatch: z.number().int().min(1).max(256).default(8),
    visionMaxWaitMs: z.number().int().min(0).max(1000).default(20),
    visionQueueFrames: z.number().int().min(1).max(100).default(4),
    detector: z.string().default('nanodet-coco'),
    detectEveryMs: z.number().int().min(0).max(60_000).default(1000),
    detectMinScore: z.number().min(0.05).max(0.95).default(0.2),
    gateThreshold: z.number().min(0).lt(1).default(0.004),
    gateMaxReuseS: z.number().min(0).max(3600).default(10),
    httpPort: z.number().int().min(0).max(65535).default(9465),
    maxFrameAgeMs: z.number().int().min(0).max(600_000).default(5_000),
    fetchMaxMb: z.number().int().min(1).max(1024).default(64),
    outboxDir: z.string().min(1).default('.cache/vigil/analyzer-outbox'),
    outboxMaxMb: z.number().int().min(1).max(100_000).default(256),
  })
  .strict()
  .superRefine((c, ctx) => {
    refineKafkaSecurity(c, ctx);
    if (c.windowS !== 0 && c.windowS < c.summaryIntervalS)
      ctx.addIssue({
        code: 'custom',
        path: ['windowS'],
        message: `a window (${c.windowS} s) must be at least the summary interval (${c.summaryIntervalS} s), or 0 for twice the interval`,
      });
    if (c.rollupHourS % c.rollupMinuteS !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['rollupHourS'],
        message: `the hour rollup (${c.rollupHourS} s) must be a whole number of minute rollups (${c.rollupMinuteS} s)`,
      });
    if (c.decoderType === 'onnx' && !c.decoderModel)
      ctx.addIssue({
        code: 'custom',
        path: ['decoderModel'],
        message:
          'the onnx decoder needs the path of its model.json (models/tiny-moe-test/model.json is the shipped test model)',
      });
    if (c.decoderType !== 'openai') return;
    if (!/^https?:\/\/[^\s]+$/.test(c.decoderUrl))
      ctx.addIssue({
        code: 'custom',
        path: ['decoderUrl'],
        message: 'the openai decoder needs the server URL, e.g. http://vllm:8000',
      });
    if (!c.decoderModel)
      ctx.addIssue({
        code: 'custom',
        path: ['decoderModel'],
        message: 'the openai decoder needs the served model name',
      });
  });
export type AnalyzerConfig = z.output<typeof AnalyzerConfigSchema>;

const analyzerBindings = {
  ...kafkaBindings,
  ...logBindings,
  groupId: { env: 'VIGIL_ANALYZER_GROUP_ID', hint: 'Kafka consumer group name' },
  summaryIntervalS: {
    env: 'VIGIL_SUMMARY_INTERVAL_S',
    parse: 'number',
    hint: 'seconds between window summaries (the window stride), 1-3600',
  },
  windowS: {
    env: 'VIGIL_WINDOW_S',
    parse: 'number',
    hint: 'seconds a window covers (≥ the summary interval; 0: twice the interval), up to 7200',
  },
  windowTokenBudget: {
    env: 'VIGIL_WINDOW_TOKEN_BUDGET',
    parse: 'number',
    hint: 'tokens a window’s frames may cost the decoder (0: no limit)',
  },
  windowMergeBelow: {
    env: 'VIGIL_WINDOW_MERGE_BELOW',
    parse: 'number',
    hint: 'share of patches changed (0-1) under which a frame merges into the one before it',
  },
  rollupMinuteS: {
    env: 'VIGIL_ROLLUP_MINUTE_S',
    parse: 'number',
    hint: 'length of a minute rollup in seconds (60; shorter only for tests)',
  },
  rollupHourS: {
    env: 'VIGIL_ROLLUP_HOUR_S',
    parse: 'number',
    hint: 'length of an hour rollup in seconds (3600), a multiple of the minute rollup',
  },
  warmupSamples: {
    env: 'VIGIL_ANALYZER_WARMUP_SAMPLES',
    parse: 'number',
    hint: 'samples a stream’s normal is learned from before it is scored, 5-100000 (cover its usual activity)',
  },
  sensitivity: {
    env: 'VIGIL_ANALYZER_SENSITIVITY',
    parse: 'number',
    hint: 'default anomaly sensitivity 0.25-4 (a stream’s analysis.sensitivity overrides it)',
  },
  eventMinDurationMs: {
    env: 'VIGIL_EVENT_MIN_DURATION_MS',
    parse: 'number',
    hint: 'ms a condition must hold before its event starts, 0-600000',
  },
  eventExitHoldMs: {
    env: 'VIGIL_EVENT_EXIT_HOLD_MS',
    parse: 'number',
    hint: 'ms a condition must stay clear before its event ends, 0-600000',
  },
  eventCooldownS: {
    env: 'VIGIL_EVENT_COOLDOWN_S',
    parse: 'number',
    hint: 'seconds after an end before the same kind may start again',
  },
  eventUpdateS: {
    env: 'VIGIL_EVENT_UPDATE_S',
    parse: 'number',
    hint: 'an open event reports an update at least this often (seconds)',
  },
  decoderType: {
    env: 'VIGIL_DECODER',
    hint: 'grounded (default, no GPU), openai (a vLLM/SGLang server) or onnx (an in-process model)',
  },
  decoderProvider: {
    env: 'VIGIL_DECODER_PROVIDER',
    hint: 'onnx decoder device: cpu, cuda or cuda:<device id>',
  },
  decoderThreads: {
    env: 'VIGIL_DECODER_THREADS',
    parse: 'number',
    hint: 'onnx decoder: ONNX Runtime intra-op threads, 1-64',
  },
  decoderBatch: {
    env: 'VIGIL_DECODER_BATCH',
    parse: 'number',
    hint: 'onnx decoder: windows of different streams generated together, 1-256',
  },
  decoderMaxTokens: {
    env: 'VIGIL_DECODER_MAX_TOKENS',
    parse: 'number',
    hint: 'onnx decoder: most tokens of an answer, 8-4096',
  },
  decoderUrl: {
    env: 'VIGIL_DECODER_URL',
    hint: 'base URL of the OpenAI-compatible server, e.g. http://vllm:8000',
  },
  decoderModel: {
    env: 'VIGIL_DECODER_MODEL',
    hint: 'openai: served model name, e.g. Qwen/Qwen3-VL-30B-A3B-Instruct; onnx: path of the model.json',
  },
  decoderApiKeyFile: {
    env: 'VIGIL_DECODER_API_KEY_FILE',
    hint: 'file holding the API key (a mounted secret)',
  },
  decoderTimeoutMs: {
    env: 'VIGIL_DECODER_TIMEOUT_MS',
    parse: 'number',
    hint: 'one call’s time limit, 100-600000 ms',
  },
  decoderRetries: {
    env: 'VIGIL_DECODER_RETRIES',
    parse: 'number',
    hint: 'tries after a 429/5xx/network error, 0-10',
  },
  decoderConcurrency: {
    env: 'VIGIL_DECODER_CONCURRENCY',
    parse: 'number',
    hint: 'windows decoded at once, 1-256',
  },
  decoderQueue: {
    env: 'VIGIL_DECODER_QUEUE',
    parse: 'number',
    hint: 'windows waiting for the decoder, 1-10000',
  },
  decoderBreakerFailures: {
    env: 'VIGIL_DECODER_BREAKER_FAILURES',
    parse: 'number',
    hint: 'consecutive failures that open the circuit breaker',
  },
  decoderBreakerOpenS: {
    env: 'VIGIL_DECODER_BREAKER_OPEN_S',
    parse: 'number',
    hint: 'seconds the breaker stays open before a trial call',
  },
  eventStaleS: {
    env: 'VIGIL_EVENT_STALE_S',
    parse: 'number',
    hint: 'seconds an open event may go without its analyzer vouching for it (frames, heartbeats) before it is closed; a new owner of the stream resumes it sooner',
  },
  baselineSaveS: {
    env: 'VIGIL_BASELINE_SAVE_S',
    parse: 'number',
    hint: 'how often each stream’s learned normal is saved to vigil.baselines.v1 (seconds, ≥ 5)',
  },
  patchThreshold: {
    env: 'VIGIL_ANALYZER_PATCH_THRESHOLD',
    parse: 'number',
    hint: 'mean feature change that makes a patch count as changed, e.g. 0.05',
  },
  visionModel: {
    env: 'VIGIL_VISION_MODEL',
    hint: 'path of a model.json manifest (default: the shipped vigil-patch-v1)',
  },
  visionProvider: { env: 'VIGIL_VISION_PROVIDER', hint: 'cpu, cuda or cuda:<device id>' },
  visionThreads: {
    env: 'VIGIL_VISION_THREADS',
    parse: 'number',
    hint: 'ONNX Runtime intra-op threads, 1-64',
  },
  visionMaxBatch: { env: 'VIGIL_VISION_MAX_BATCH', parse: 'number', hint: 'frames per encoder batch, 1-256' },
  visionMaxWaitMs: {
    env: 'VIGIL_VISION_MAX_WAIT_MS',
    parse: 'number',
    hint: 'longest a frame waits for a batch, 0-1000 ms',
  },
  visionQueueFrames: {
    env: 'VIGIL_VISION_QUEUE_FRAMES',
    parse: 'number',
    hint: 'frames queued per stream for the encoder, 1-100',
  },
  detector: {
    env: 'VIGIL_DETECTOR',
    hint: 'the object detector: nanodet-coco (shipped), off, or the path of a detector model.json',
  },
  detectEveryMs: {
    env: 'VIGIL_DETECT_EVERY_MS',
    parse: 'number',
    hint: 'run the detector on a stream at most this often, ms (0: every sample), 0-60000',
  },
  detectMinScore: {
    env: 'VIGIL_DETECT_MIN_SCORE',
    parse: 'number',
    hint: 'lowest detection score the tracker uses (it starts tracks at 0.35), 0.05-0.95',
  },
  gateThreshold: {
    env: 'VIGIL_VISION_GATE_THRESHOLD',
    parse: 'number',
    hint: 'thumbnail difference under which a frame reuses its stream’s last tokens, e.g. 0.004',
  },
  gateMaxReuseS: {
    env: 'VIGIL_VISION_GATE_MAX_REUSE_S',
    parse: 'number',
    hint: 'encode for real at least every this many seconds',
  },
  httpPort: {
    env: 'VIGIL_ANALYZER_HTTP_PORT',
    parse: 'number',
    hint: 'TCP port for /metrics, /health/live and /health/ready (0 picks a free one)',
  },
  maxFrameAgeMs: {
    env: 'VIGIL_ANALYZER_MAX_FRAME_AGE_MS',
    parse: 'number',
    hint: 'frames read later than this after ingest published them are dropped (counted per stream) so the kept ones stay current under overload; 0 keeps all',
  },
  fetchMaxMb: {
    env: 'VIGIL_ANALYZER_FETCH_MAX_MB',
    parse: 'number',
    hint: 'the most frame data one Kafka fetch brings, 1-1024 MiB (a quarter of it per partition)',
  },
  outboxDir: {
    env: 'VIGIL_OUTBOX_DIR',
    hint: 'writable directory where anomaly events, summaries and baselines wait while Kafka is unreachable (kept across restarts)',
  },
  outboxMaxMb: {
    env: 'VIGIL_OUTBOX_MAX_MB',
    parse: 'number',
    hint: 'most megabytes the outbox keeps on disk; past it new messages are dropped and counted',
  },
} as const satisfies Record<keyof z.input<typeof AnalyzerConfigSchema>, EnvBinding>;

export function loadAnalyzerConfig(env: Env): AnalyzerConfig {
  return loadConfig(AnalyzerConfigSchema, analyzerBindings, env);
}

export const GatewayConfigSchema = z
  .object({
    ...kafkaSchema,
    ...logSchema,
    httpPort: z.number().int().min(0).max(65535).default(8080),
    host: z.string().min(1).default('0.0.0.0'),
    opsPort: z.number().int().min(0).max(65535).default(9466),
    apiKeysFile: z.string().min(1, 'the gateway needs a file of API keys (see README, "API keys")'),
    dbPath: z.string().min(1).default('.cache/vigil/gateway.db'),
    rateLimitPerMin: z.number().int().min(1).max(1_000_000).default(600),
    bodyLimitBytes: z.number().int().min(1024).max(10_000_000).default(65_536),
    scoresKeepS: z.number().min(60).max(86_400).default(3600),
    dbMaxMb: z.number().min(16).max(10_000_000).default(1024),
    ffmpegPath: z.string().min(1).default('ffmpeg'),
    secretsDir: z.string().min(1).default('/run/secrets/vigil'),
    liveMaxViewers: z.number().int().min(0).max(1000).default(16),
    embedder: z.string().min(1).default('all-minilm-l6-v2'),
    askUrl: z
      .string()
      .regex(/^(https?:\/\/[^\s]+)?$/, 'must be the http(s) URL of an OpenAI-compatible server, or empty')
      .default(''),
    askModel: z.string().default(''),
    askApiKeyFile: z.string().default(''),
    askTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    sseMaxPerKey: z.number().int().min(1).max(100_000).default(20),
    sseMax: z.number().int().min(1).max(1_000_000).default(1000),
    sseJournalRows: z.number().int().min(100).max(10_000_000).default(20_000),
    ...cameraPolicySchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    refineKafkaSecurity(c, ctx);
    refineCameraPolicy(c, ctx);
    if (c.askUrl && !c.askModel)
      ctx.addIssue({
        code: 'custom',
        path: ['askModel'],
        message:
          'answering questions with a model server needs the served model name, e.g. Qwen/Qwen3-30B-A3B-Instruct-2507',
      });
  });
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;

const gatewayBindings = {
  ...kafkaBindings,
  ...logBindings,
  ...cameraPolicyBindings,
  sseMaxPerKey: {
    env: 'VIGIL_GATEWAY_SSE_MAX_PER_KEY',
    parse: 'number',
    hint: 'open GET /events connections one API key may hold, 1-100000 (past it: 429)',
  },
  sseMax: {
    env: 'VIGIL_GATEWAY_SSE_MAX',
    parse: 'number',
    hint: 'open GET /events connections in all, 1-1000000 (past it: 429)',
  },
  sseJournalRows: {
    env: 'VIGIL_GATEWAY_SSE_JOURNAL',
    parse: 'number',
    hint: 'server-sent events kept for clients that reconnect with Last-Event-ID, 100-10000000',
  },
  httpPort: {
    env: 'VIGIL_GATEWAY_PORT',
    parse: 'number',
    hint: 'TCP port of the REST API and dashboard (0 picks a free one)',
  },
  host: { env: 'VIGIL_GATEWAY_HOST', hint: 'address to listen on, e.g. 0.0.0.0 or 127.0.0.1' },
  opsPort: {
    env: 'VIGIL_GATEWAY_HTTP_PORT',
    parse: 'number',
    hint: 'TCP port for /metrics, /health/live and /health/ready, unauthenticated, for the cluster (0 picks a free one)',
  },
  apiKeysFile: {
    env: 'VIGIL_GATEWAY_API_KEYS_FILE',
    hint: 'file with one "<read|write> <key>" per line (a mounted secret); keys of 24+ characters',
  },
  dbPath: {
    env: 'VIGIL_GATEWAY_DB',
    hint: 'SQLite file where anomalies, summaries and status are kept (created if missing)',
  },
  rateLimitPerMin: {
    env: 'VIGIL_GATEWAY_RATE_LIMIT',
    parse: 'number',
    hint: 'requests per minute per API key (or per address without one), 1-1000000',
  },
  bodyLimitBytes: {
    env: 'VIGIL_GATEWAY_BODY_LIMIT',
    parse: 'number',
    hint: 'largest request body in bytes, 1024-10000000',
  },
  scoresKeepS: {
    env: 'VIGIL_GATEWAY_SCORES_KEEP_S',
    parse: 'number',
    hint: 'seconds of anomaly scores kept per camera for the sparklines, 60-86400',
  },
  dbMaxMb: {
    env: 'VIGIL_GATEWAY_DB_MAX_MB',
    parse: 'number',
    hint: 'most megabytes of history in the SQLite file; past it the oldest window summaries, then ended events and roll-ups, are deleted (keep it under the data volume: 2 GiB in k8s/base)',
  },
  ffmpegPath: { env: 'VIGIL_FFMPEG_PATH', hint: 'path to the ffmpeg binary (live view)' },
  secretsDir: {
    env: 'VIGIL_SECRETS_DIR',
    hint: 'directory of camera secrets: <name>/username and <name>/password, or <name>.username and <name>.password',
  },
  liveMaxViewers: {
    env: 'VIGIL_GATEWAY_LIVE_MAX_VIEWERS',
    parse: 'number',
    hint: 'live-view connections at once across all cameras (0 turns live view off)',
  },
  embedder: {
    env: 'VIGIL_EMBEDDER',
    hint: 'text embedding model of search and ask: all-minilm-l6-v2 (shipped), off, or the path of a model.json',
  },
  askUrl: {
    env: 'VIGIL_ASK_URL',
    hint: 'base URL of an OpenAI-compatible server that answers POST /api/ask from the retrieved history (empty: the answer is the ranked hits)',
  },
  askModel: {
    env: 'VIGIL_ASK_MODEL',
    hint: 'served model name for answers, e.g. Qwen/Qwen3-30B-A3B-Instruct-2507',
  },
  askApiKeyFile: {
    env: 'VIGIL_ASK_API_KEY_FILE',
    hint: 'file holding the answer server’s API key (a mounted secret)',
  },
  askTimeoutMs: {
    env: 'VIGIL_ASK_TIMEOUT_MS',
    parse: 'number',
    hint: 'time limit of one answer from the model server, 100-600000 ms',
  },
} as const satisfies Record<keyof z.input<typeof GatewayConfigSchema>, EnvBinding>;

export function loadGatewayConfig(env: Env): GatewayConfig {
  return loadConfig(GatewayConfigSchema, gatewayBindings, env);
}

/** `vigil up` and `vigil tail`: brokers are optional (a local broker is started when none are given). */
export const CliConfigSchema = z
  .object({
    brokers: brokerList.optional(),
    clientId: kafkaSchema.clientId,
    connectTimeoutMs: kafkaSchema.connectTimeoutMs,
    ...kafkaSecuritySchema,
    ...logSchema,
    kafkaPort: z.number().int().min(1024).max(65535).default(9092),
    rtspPort: z.number().int().min(1024).max(65535).default(8554),
    dataDir: z.string().min(1).default('.cache/vigil'),
    ...cameraPolicySchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    refineKafkaSecurity(c, ctx);
    refineCameraPolicy(c, ctx);
  });
export type CliConfig = z.output<typeof CliConfigSchema>;

const cliBindings = {
  ...kafkaBindings,
  ...logBindings,
  ...cameraPolicyBindings,
  kafkaPort: { env: 'VIGIL_LOCAL_KAFKA_PORT', parse: 'number', hint: 'a free TCP port for the local broker' },
  rtspPort: {
    env: 'VIGIL_DEMO_RTSP_PORT',
    parse: 'number',
    hint: 'a free TCP port for the demo RTSP server',
  },
  dataDir: { env: 'VIGIL_DATA_DIR', hint: 'a writable directory for the local broker and demo clips' },
} as const satisfies Record<keyof z.input<typeof CliConfigSchema>, EnvBinding>;

export function loadCliConfig(env: Env): CliConfig {
  return loadConfig(CliConfigSchema, cliBindings, env);
}

/** One setting as the configuration reference lists it. */
export interface ConfigReferenceRow {
  readonly env: string;
  readonly apps: string[];
  readonly default: string;
  readonly hint: string;
}

/**
 * Every environment variable of every app, its default (from the schema) and its hint (from the binding):
 * the source of README's configuration reference (`npm run docs`), checked current by a test. A variable
 * several apps share is one row.
 */
export function configReference(): ConfigReferenceRow[] {
  const apps: [string, z.ZodObject, Record<string, EnvBinding>][] = [
    ['ingest', IngestConfigSchema, ingestBindings],
    ['analyzer', AnalyzerConfigSchema, analyzerBindings],
    ['gateway', GatewayConfigSchema, gatewayBindings],
    ['up, replay, tail, streams', CliConfigSchema, cliBindings],
  ];
  const rows = new Map<string, { env: string; apps: string[]; default: string; hint: string }>();
  for (const [app, schema, bindings] of apps) {
    for (const [key, b] of Object.entries(bindings)) {
      const field: unknown = schema.shape[key];
      let def = 'required';
      if (field instanceof z.ZodDefault) {
        const v: unknown = field.def.defaultValue;
        def =
          (Array.isArray(v) && v.length === 0) || v === ''
            ? '(none)'
            : typeof v === 'string'
              ? v
              : JSON.stringify(v);
      } else if (field instanceof z.ZodOptional) def = '(none)';
      const row = rows.get(b.env);
      if (row) {
        if (!row.apps.includes(app)) row.apps.push(app);
      } else rows.set(b.env, { env: b.env, apps: [app], default: def, hint: b.hint });
    }
  }
  return [...rows.values()];
}

/** The reference as a Markdown table. */
export function configReferenceMarkdown(): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const lines = ['| variable | apps | default | meaning |', '| --- | --- | --- | --- |'];
  for (const r of configReference())
    lines.push(
      `| \`${r.env}\` | ${r.apps.length === 4 ? 'all' : r.apps.join(', ')} | ${r.default === 'required' || r.default === '(none)' ? r.default : `\`${esc(r.default)}\``} | ${esc(r.hint)} |`,
    );
  return lines.join('\n') + '\n';
}
