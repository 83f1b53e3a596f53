// Checks what a `vigil up` run's summaries say about its events, from its Kafka topics: each minute's
// anomaly count against the event starts in that minute, and no window, minute or hour saying "No
// anomalies" while one of its camera's events was open. Usage, after (or while) `vigil up` runs:
//   node dist/test/diag/rollup-check.js 127.0.0.1:9092 [--since ISO]
// Prints one JSON line of totals, and each disagreement.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AnomalyEvent, AnomalyEventSchema, type Summary, SummarySchema, TOPICS } from '@vigil/contracts';
import { Logger } from '@vigil/observability';
import { watchTopics } from '@vigil/testing';

const [broker = '127.0.0.1:9092', ...rest] = process.argv.slice(2);
const since = rest[0] === '--since' && rest[1] ? Date.parse(rest[1]) : 0;
const log = new Logger('rollup-check', { level: 'error' });
const summaries: Summary[] = [];
const events = new Map<string, { start?: AnomalyEvent; end?: AnomalyEvent; last: AnomalyEvent }>();
let seen = 0;
const sub = await watchTopics(
  [broker],
  { groupId: `rollup-check-${randomUUID()}`, topics: [TOPICS.summaries.name, TOPICS.anomalies.name] },
  (m) => {
    seen++;
    if (!m.value) return;
    const json: unknown = JSON.parse(m.value.toString());
    if (m.topic === TOPICS.summaries.name) {
      const s = SummarySchema.safeParse(json);
      if (s.success && Date.parse(s.data.windowStart) >= since) summaries.push(s.data);
      return;
    }
    const a = AnomalyEventSchema.safeParse(json);
    if (!a.success) return;
    const e = events.get(a.data.eventId) ?? { last: a.data };
    if (a.data.phase === 'start') e.start = a.data;
    if (a.data.phase === 'end') e.end = a.data;
    e.last = a.data;
    events.set(a.data.eventId, e);
  },
  log,
);
// read until nothing new has come for 5 s
let before = -1;
while (seen !== before) {
  before = seen;
  await sleep(5000);
}
await sub.stop();

const byStream = new Map<string, { start: number; end: number; kind: string; id: string }[]>();
for (const [id, e] of events) {
  if (!e.start) continue;
  const end = e.end ? Date.parse(e.end.endedAt ?? e.end.observedAt) : Infinity;
  const list = byStream.get(e.start.streamId) ?? [];
  list.push({ start: Date.parse(e.start.startedAt), end, kind: e.start.kind, id });
  byStream.set(e.start.streamId, list);
}
const problems: string[] = [];
const totals = {
  summaries: 0,
  windows: 0,
  minutes: 0,
  hours: 0,
  starts: 0,
  countMismatches: 0,
  noAnomaliesWhileOpen: 0,
};
totals.starts = [...byStream.values()].reduce((a, l) => a + l.length, 0);
const lastEnd = Math.max(0, ...summaries.map((s) => Date.parse(s.windowEnd)));
for (const s of summaries) {
  totals.summaries++;
  const level = s.level;
  totals[`${level}s`]++;
  const ws = Date.parse(s.windowStart);
  const we = Date.parse(s.windowEnd);
  const evs = byStream.get(s.streamId) ?? [];
  if (s.level === 'minute') {
    const starts = evs.filter((e) => e.start >= ws && e.start < we).length;
    if (starts !== s.stats.anomalies) {
      totals.countMismatches++;
      problems.push(
        `${s.streamId} minute ${s.windowStart}: says ${s.stats.anomalies}, ${starts} started in it`,
      );
    }
  }
  if (/No anomalies\./.test(s.text) && we < lastEnd) {
    const open = evs.filter((e) => e.start < we && e.end > ws);
    if (open.length) {
      totals.noAnomaliesWhileOpen++;
      problems.push(
        `${s.streamId} ${s.level} ${s.windowStart}–${s.windowEnd} says "No anomalies" while open: ${open.map((e) => `${e.kind} from ${new Date(e.start).toISOString()}`).join(', ')}`,
      );
    }
  }
}
process.stdout.write(`${JSON.stringify(totals)}\n`);
for (const p of problems.slice(0, 50)) process.stdout.write(`${p}\n`);
process.exit(0);
