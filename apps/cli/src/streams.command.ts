import { readFileSync } from 'node:fs';
import { StreamSpecSchema, TOPICS, formatIssues, type StreamSpec } from '@vigil/contracts';
import {
  KafkaPublisher,
  StreamRegistry,
  createKafka,
  ensureTopics,
  type KafkaConnection,
} from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { UsageError } from './errors.js';

/** Parses a JSON StreamSpec or array of them; every problem of every spec is reported at once. */
export function parseSpecs(text: string, origin: string): StreamSpec[] {
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
    if (r.success) specs.push(r.data);
    else problems.push(...formatIssues(r.error, Array.isArray(json) ? `[${i}]` : ''));
  });
  if (problems.length) throw new UsageError(`invalid stream spec in ${origin}: ${problems.join('; ')}`);
  return specs;
}

/** `vigil streams put <file|->` and `vigil streams rm <id…>`. */
export async function runStreams(
  conn: KafkaConnection,
  logger: Logger,
  action: string | undefined,
  args: readonly string[],
  write: (line: string) => void,
): Promise<void> {
  if (action !== 'put' && action !== 'rm')
    throw new UsageError('vigil streams needs put <file.json|-> or rm <id…>');
  if (args.length === 0)
    throw new UsageError(
      `vigil streams ${action} needs ${action === 'put' ? 'a file (or -)' : 'stream ids'}`,
    );
  const specs =
    action === 'put'
      ? parseSpecs(readFileSync(args[0] === '-' ? 0 : args[0]!, 'utf8'), args[0] === '-' ? 'stdin' : args[0]!)
      : [];
  const kafka = createKafka(conn, logger);
  await ensureTopics(kafka, conn, [TOPICS.streams]);
  const publisher = new KafkaPublisher(kafka, conn);
  await publisher.connect();
  try {
    const registry = new StreamRegistry(publisher, 'urn:vigil:cli');
    if (action === 'put') {
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
