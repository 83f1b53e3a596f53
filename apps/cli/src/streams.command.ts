import { readFileSync } from 'node:fs';
import {
  StreamSpecSchema,
  StreamStatusSchema,
  TOPICS,
  formatIssues,
  jsonRow,
  redactSecrets,
  streamUrlProblem,
  type StreamSpec,
  type StreamUrlPolicy,
} from '@vigil/contracts';
import {
  KafkaPublisher,
  StreamRegistry,
  TableReader,
  createKafka,
  ensureTopics,
  type KafkaConnection,
} from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { UsageError } from './errors.js';

/** Parses a JSON StreamSpec or array of them; every problem of every spec is reported at once. */
export function parseSpecs(text: string, origin: string, policy: StreamUrlPolicy = {}): StreamSpec[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${origin} is not valid JSON (${(e as Error).message})`);
  }
  const items = Array.isArray(json) ? json : [json];
  const problems: string[] = [];
  const specs: StreamSpec[] = [];
  items.forEach((item, i) => {
    const r = StreamSpecSchema.safeParse(item);
    const at = Array.isArray(json) ? `[${i}]` : '';
    if (!r.success) return problems.push(...formatIssues(r.error, at));
    // the operator's file directories and camera networks, as the gateway and ingest apply them
    const problem = streamUrlProblem(r.data.url, policy);
    if (problem) problems.push(`${at ? `${at}.` : ''}url: stream URL ${problem}`);
    else specs.push(r.data);
  });
  if (problems.length) throw new UsageError(`invalid stream spec in ${origin}: ${problems.join('; ')}`);
  return specs;
}

export interface StreamsArgs {
  /** add: a camera given by flags instead of a file. */
  readonly id?: string;
  readonly url?: string;
  readonly name?: string;
  readonly fps?: string;
}

/**
 * `vigil streams add <file|->` (or `--id … --url …`), `vigil streams ls`, `vigil streams rm <id…>`: the
 * cameras on vigil.streams.v1, which the ingest workers run.
 */
export async function runStreams(
  conn: KafkaConnection,
  logger: Logger,
  action: string | undefined,
  args: readonly string[],
  flags: StreamsArgs,
  write: (line: string) => void,
  policy: StreamUrlPolicy = {},
): Promise<void> {
  const verb = action === 'put' ? 'add' : action;
  if (verb !== 'add' && verb !== 'rm' && verb !== 'ls')
    throw new UsageError('vigil streams needs add <file.json|-> (or --id and --url), ls, or rm <id…>');
  if (verb === 'ls') return listStreams(conn, logger, write);
  const byFlags = verb === 'add' && args.length === 0 && (flags.id || flags.url);
  if (args.length === 0 && !byFlags)
    throw new UsageError(
      verb === 'add'
        ? 'vigil streams add needs a file (or -) of StreamSpec JSON, or --id <id> --url <url>'
        : 'vigil streams rm needs stream ids',
    );
  const specs =
    verb !== 'add'
      ? []
      : byFlags
        ? parseSpecs(
            JSON.stringify({
              id: flags.id,
              url: flags.url,
              ...(flags.name ? { name: flags.name } : {}),
              ...(flags.fps ? { sampling: { mode: 'fps', fps: Number(flags.fps) } } : {}),
            }),
            'the flags',
            policy,
          )
        : parseSpecs(
            readFileSync(args[0] === '-' ? 0 : args[0]!, 'utf8'),
            args[0] === '-' ? 'stdin' : args[0]!,
            policy,
          );
  const kafka = createKafka(conn, logger);
  await ensureTopics(kafka, conn, [TOPICS.streams]);
  const publisher = new KafkaPublisher(kafka, conn);
  await publisher.connect();
  try {
    const registry = new StreamRegistry(publisher, 'urn:vigil:cli');
    if (verb === 'add') {
      await registry.put(specs);
      write(`put ${specs.map((s) => s.id).join(', ')} on ${TOPICS.streams.name}`);
    } else {
      await registry.remove(args);
      write(`removed ${args.join(', ')} from ${TOPICS.streams.name}`);
    }
  } finally {
    await publisher.disconnect();
  }
}

/** The cameras on vigil.streams.v1 with their latest status, one line each. */
async function listStreams(conn: KafkaConnection, logger: Logger, write: (line: string) => void) {
  const kafka = createKafka(conn, logger);
  await ensureTopics(kafka, conn, [TOPICS.streams, TOPICS.streamStatus]);
  const specs = new TableReader(
    kafka,
    conn,
    { topic: TOPICS.streams.name, groupPrefix: 'vigil-cli-ls', parse: jsonRow(StreamSpecSchema) },
    logger,
  );
  const status = new TableReader(
    kafka,
    conn,
    {
      topic: TOPICS.streamStatus.name,
      groupPrefix: 'vigil-cli-ls-status',
      parse: jsonRow(StreamStatusSchema),
    },
    logger,
  );
  try {
    await Promise.all([specs.start(), status.start()]);
    await Promise.all([specs.caughtUp(15_000), status.caughtUp(15_000)]);
    const rows = specs
      .values()
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((s) => {
        const st = status.get(s.id);
        return [
          s.id,
          st ? `${st.health} (${st.state})` : s.enabled ? 'no status yet' : 'disabled',
          st ? `${st.fpsOut.toFixed(1)} fps` : '',
          redactSecrets(s.url),
          s.name ?? '',
        ];
      });
    if (rows.length === 0) return write('no cameras on ' + TOPICS.streams.name);
    const head = ['id', 'status', 'rate', 'url', 'name'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows])
      write(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
  } finally {
    await Promise.allSettled([specs.stop(), status.stop()]);
  }
}
