// Search over the gateway's history at 10k, 100k and 1M rows: the gateway's own path (binary codes in the
// flat in-memory index, re-ranked on the int8 vectors stored in SQLite) against the exact baseline run side
// by side (every row's float32 vector, brute force), with recall@10 of the one against the other.
//
// The corpus: 2000 summaries and event texts from templates, embedded with the real model; the rows beyond
// them are those vectors with noise added (cosine ~0.9 to their text's), since embedding a million texts
// would take this machine's CPU most of an hour. The queries are 40 questions, embedded with the real model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Summary, seededRandom } from '@vigil/contracts';
import { TextEmbedder, shippedModel } from '@vigil/vision';
import {
  BinaryIndex,
  GatewayRepository,
  binaryCode,
  nearestDocs,
  packVector,
} from '../../apps/gateway/src/index.js';
import { seededNormal } from '../scripts/generate-models.js';
import { percentile, round3 as r3 } from './stats.js';

const PLACES = [
  'gate',
  'loading dock',
  'car park',
  'courtyard',
  'warehouse aisle',
  'entrance',
  'fence',
  'yard',
];
const VEHICLES = ['van', 'truck', 'car', 'forklift', 'bicycle', 'delivery lorry'];
const MACHINES = ['conveyor belt', 'press', 'packing robot', 'mixer', 'labeller'];
const OBJECTS = ['bag', 'crate', 'pallet', 'box', 'ladder', 'cone'];
const WEATHER = ['light rain', 'bright sun', 'long shadows', 'fog', 'the lights on', 'dusk falling'];
const DIRS = ['left to right', 'right to left', 'the top towards the camera', 'the camera towards the back'];

/** `n` distinct texts such as a site's summaries and events say them (the templates make about 2600). */
function corpus(n: number): string[] {
  const r = seededRandom(11);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const templates = [
    () => `${1 + Math.floor(r() * 5)} people walked across the ${pick(PLACES)} from ${pick(DIRS)}.`,
    () =>
      `A ${pick(VEHICLES)} parked by the ${pick(PLACES)} and stayed for ${2 + Math.floor(r() * 40)} minutes.`,
    () => `The ${pick(MACHINES)} on line ${1 + Math.floor(r() * 6)} stopped; a worker came to look at it.`,
    () => `The ${pick(MACHINES)} on line ${1 + Math.floor(r() * 6)} ran steadily at the usual pace.`,
    () => `The ${pick(PLACES)} was empty; ${pick(WEATHER)}.`,
    () => `A ${pick(VEHICLES)} drove through the ${pick(PLACES)} towards the ${pick(PLACES)}.`,
    () => `Someone left a ${pick(OBJECTS)} by the ${pick(PLACES)}; it was still there at the end.`,
    () => `lens covered: the picture of the ${pick(PLACES)} went dark and lost its usual layout.`,
    () => `zone entered in zone ${pick(PLACES)}: a person entered the forbidden area.`,
    () => `A worker carried a ${pick(OBJECTS)} past the ${pick(MACHINES)}.`,
  ];
  const out = new Set<string>();
  while (out.size < n) out.add(pick(templates)());
  return [...out];
}

const QUESTIONS = [
  'a truck at the loading dock',
  'when did the belt stop?',
  'someone left a bag behind',
  'people crossing the yard',
  'a car by the gate',
  'the camera was covered',
  'a forklift in the warehouse',
  'nobody around at the entrance',
  'intruder in a restricted area',
  'the press on line 3 stopped',
  'a van parked for a long time',
  'a cyclist near the fence',
  'fog over the car park',
  'boxes carried past the labeller',
  'a delivery at the gate',
  'machine running normally',
  'two people walked from left to right',
  'a pallet left in the courtyard',
  'dark picture at the dock',
  'a lorry drove towards the warehouse',
];

export interface SearchBenchRow {
  rows: number;
  vigilP50Ms: number;
  vigilP99Ms: number;
  vigilFilteredP50Ms: number;
  vigilFilteredP99Ms: number;
  exactP50Ms: number;
  exactP99Ms: number;
  /** exact p50 / Vigil p50 */
  speedup: number;
  recallAt10: number;
  /** The texts of the exact top 10 that Vigil's top 10 has too (a copy of a text is the same text). */
  textRecallAt10: number;
  indexMb: number;
}

export interface SearchBenchResult {
  model: string;
  embedQueryP50Ms: number;
  texts: number;
  queries: number;
  table: SearchBenchRow[];
}

export async function searchBench(quick: boolean, log: (l: string) => void): Promise<SearchBenchResult> {
  const sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const embedder = await TextEmbedder.load(shippedModel('all-minilm-l6-v2'), {
    provider: { kind: 'cpu' },
    intraOpThreads: 1,
  });
  const dims = embedder.dims;
  const texts = corpus(2000);
  log(`embedding ${texts.length} texts and ${QUESTIONS.length} questions with ${embedder.manifest.name}`);
  const bases: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += 64) bases.push(...(await embedder.embed(texts.slice(i, i + 64))));
  const queries: Float32Array[] = [];
  const embedMs: number[] = [];
  for (const q of QUESTIONS) {
    const t = performance.now();
    queries.push((await embedder.embed([q]))[0]!);
    embedMs.push(performance.now() - t);
  }
  await embedder.close();

  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-search-'));
  const repo = new GatewayRepository(join(dir, 'gateway.db'));
  const index = new BinaryIndex(dims, sizes.at(-1));
  const all = new Float32Array(sizes.at(-1)! * dims); // the exact baseline's copy, float32
  const sigma = Math.sqrt((1 / 0.81 - 1) / dims); // cosine ~0.9 to the text's own vector
  const T0 = Date.UTC(2026, 0, 1);
  let n = 0;
  const table: SearchBenchRow[] = [];
  try {
    for (const size of sizes) {
      log(`filling to ${size} rows`);
      while (n < size) {
        const chunk = Math.min(10_000, size - n);
        repo.batch(() => {
          for (let i = n; i < n + chunk; i++) {
            const at = T0 + i * 30_000;
            repo.search.putSummary({
              summaryId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
              streamId: `cam-${String(i % 50).padStart(2, '0')}`,
              windowEnd: new Date(at).toISOString(),
              text: `${texts[i % texts.length]} (#${i})`,
              findings: [],
            } as unknown as Summary);
          }
        });
        const pending = repo.search.pending(chunk);
        const rows = pending.map((p) => {
          const i = Number(/#(\d+)\)$/.exec(p.text)![1]);
          const base = bases[i % bases.length]!;
          // the texts themselves, then copies of them with noise of their own
          const v = i < texts.length ? Float32Array.from(base) : seededNormal(i, dims, sigma);
          let norm = 0;
          for (let k = 0; k < dims; k++) {
            if (i >= texts.length) v[k]! += base[k]!;
            norm += v[k]! * v[k]!;
          }
          norm = Math.sqrt(norm);
          for (let k = 0; k < dims; k++) v[k]! /= norm;
          all.set(v, (p.docId - 1) * dims);
          return { ...p, vec: packVector(v), code: binaryCode(v) };
        });
        for (const s of repo.search.setVectors(rows)) index.add(s.docId, s.code, s.streamId, s.atMs);
        n += chunk;
      }
      table.push(measure(size));
      const row = table.at(-1)!;
      log(
        `${size} rows: vigil p50 ${row.vigilP50Ms} ms p99 ${row.vigilP99Ms} ms, exact p50 ${row.exactP50Ms} ms, recall@10 ${row.recallAt10}`,
      );
    }
  } finally {
    repo.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    model: 'all-minilm-l6-v2',
    embedQueryP50Ms: r3(percentile(embedMs, 50)!),
    texts: texts.length,
    queries: QUESTIONS.length,
    table,
  };

  function exactTop(q: Float32Array, rows: number, k: number): number[] {
    const scores = new Float32Array(rows);
    for (let i = 0, o = 0; i < rows; i++, o += dims) {
      let s = 0;
      for (let d = 0; d < dims; d++) s += q[d]! * all[o + d]!;
      scores[i] = s;
    }
    const top: number[] = [];
    for (let i = 0; i < rows; i++) {
      if (top.length < k || scores[i]! > scores[top[top.length - 1]!]!) {
        top.push(i);
        top.sort((a, b) => scores[b]! - scores[a]!);
        if (top.length > k) top.pop();
      }
    }
    return top.map((i) => i + 1); // doc ids start at 1
  }

  function measure(rows: number): SearchBenchRow {
    const vigil: number[] = [];
    const filtered: number[] = [];
    const exact: number[] = [];
    let found = 0;
    const rounds = 5;
    // one kind of query at a time, so one's garbage is not collected in another's figures
    const tops: number[][] = [];
    for (let r = 0; r < rounds; r++)
      for (const q of queries) {
        const t = performance.now();
        const got = nearestDocs(index, repo.search, q, 10);
        vigil.push(performance.now() - t);
        if (r === 0) tops.push(got.slice(0, 10).map((g) => g.doc.docId));
      }
    for (let r = 0; r < rounds; r++)
      for (const q of queries) {
        const t = performance.now();
        nearestDocs(index, repo.search, q, 10, { streams: ['cam-07'] });
        filtered.push(performance.now() - t);
      }
    // a row's text: row i (doc id i + 1) is a copy of text i mod texts.length
    const textOf = (docId: number) => (docId - 1) % texts.length;
    let sameTexts = 0;
    queries.forEach((q, i) => {
      const t = performance.now();
      const want = exactTop(q, rows, 10);
      exact.push(performance.now() - t);
      const ids = new Set(tops[i]);
      found += want.filter((id) => ids.has(id)).length;
      const wantTexts = new Set(want.map(textOf));
      const gotTexts = new Set(tops[i]!.map(textOf));
      sameTexts += [...wantTexts].filter((x) => gotTexts.has(x)).length / wantTexts.size;
    });
    const p = (xs: number[], q: number) => r3(percentile(xs, q)!);
    return {
      rows,
      vigilP50Ms: p(vigil, 50),
      vigilP99Ms: p(vigil, 99),
      vigilFilteredP50Ms: p(filtered, 50),
      vigilFilteredP99Ms: p(filtered, 99),
      exactP50Ms: p(exact, 50),
      exactP99Ms: p(exact, 99),
      speedup: Math.round((p(exact, 50) / p(vigil, 50)) * 10) / 10,
      recallAt10: r3(found / (queries.length * 10)),
      textRecallAt10: r3(sameTexts / queries.length),
      indexMb: Math.round((rows * (dims / 8 + 4 + 4 + 8)) / 1e5) / 10,
    };
  }
}
