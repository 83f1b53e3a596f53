// The e2e benchmark's independent consumer, in a process of its own so its clock readings do not wait on
// the pipeline's event loop: prints one JSON line per anomaly start of the streams named by the prefix.
import { randomUUID } from 'node:crypto';
import { TOPICS } from '@vigil/contracts';
import { KafkaSubscriber, createKafka } from '@vigil/kafka';
import { Logger } from '@vigil/observability';

const [brokers, prefix] = process.argv.slice(2);
const log = new Logger('e2e-consumer', { level: 'warn' });
const conn = { brokers: brokers!.split(','), clientId: 'vigil-e2e-consumer', connectTimeoutMs: 5000 };
const sub = new KafkaSubscriber(
  createKafka(conn, log),
  conn,
  { groupId: `vigil-e2e-${randomUUID()}`, topics: [TOPICS.anomalies.name], fromBeginning: false },
  log,
);
await sub.start((batch) => {
  const receivedAt = Date.now();
  for (const m of batch) {
    if (!m.key?.startsWith(prefix!) || !m.value) continue;
    const e = JSON.parse(m.value.toString()) as {
      phase: string;
      kind: string;
      startedAt: string;
      observedAt: string;
    };
    if (e.phase !== 'start') continue;
    process.stdout.write(
      JSON.stringify({
        receivedAt,
        streamId: m.key,
        kind: e.kind,
        startedAt: e.startedAt,
        observedAt: e.observedAt,
      }) + '\n',
    );
  }
  return Promise.resolve();
});
await sub.whenJoined();
process.stdout.write('{"ready":true}\n');
process.on('SIGTERM', () => void sub.stop().then(() => process.exit(0)));
