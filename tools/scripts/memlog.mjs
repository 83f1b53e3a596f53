// A memory logger to preload into Vigil while looking into growth under load:
//   NODE_OPTIONS="--import ./tools/scripts/memlog.mjs" node dist/tools/chaos/main.js --only overload
// (the chaos suite passes its environment on to the `vigil` processes it starts). In a process whose
// command line is `vigil.js up` or `vigil.js analyzer` it appends a line of JSON every 15 s
// (VIGIL_MEMLOG_EVERY_S) to $VIGIL_MEMLOG_DIR (the temp dir)/memlog-<pid>.jsonl, in MB:
//   rss; heapUsed, heapTotal (V8); ab, ext (array buffers, external: what Node counts outside the heap);
//   brk (the main malloc heap), anon (other anonymous mappings: V8's pages, thread arenas, ONNX Runtime),
//   anonBig (those over 8 MB), files (mapped files: code, libraries)
// from process.memoryUsage() and /proc/self/smaps. It reads smaps (a few ms) and holds no timer open.
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const mb = (bytes) => Math.round((bytes / 1048576) * 10) / 10;

/** Resident kB of the main heap, other anonymous mappings (and those over 8 MB), and mapped files. */
function smaps() {
  const kb = { brk: 0, anon: 0, anonBig: 0, files: 0 };
  let name = '';
  let size = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (range) {
      size = parseInt(range[2], 16) - parseInt(range[1], 16);
      name = range[3];
    } else if (line.startsWith('Rss:')) {
      const rss = Number(line.split(/\s+/)[1]);
      if (name === '[heap]') kb.brk += rss;
      else if (name === '') {
        kb.anon += rss;
        if (size > 8 << 20) kb.anonBig += rss;
      } else kb.files += rss;
    }
  }
  return kb;
}

if (/vigil\.js (up|analyzer)\b/.test(process.argv.join(' '))) {
  const t0 = Date.now();
  const file = join(process.env.VIGIL_MEMLOG_DIR ?? tmpdir(), `memlog-${process.pid}.jsonl`);
  const every = Number(process.env.VIGIL_MEMLOG_EVERY_S ?? 15) * 1000;
  setInterval(() => {
    const m = process.memoryUsage();
    const k = smaps();
    const row = {
      min: Math.round((Date.now() - t0) / 600) / 100,
      rss: mb(m.rss),
      heapUsed: mb(m.heapUsed),
      heapTotal: mb(m.heapTotal),
      ab: mb(m.arrayBuffers),
      ext: mb(m.external),
      ...Object.fromEntries(Object.entries(k).map(([key, v]) => [key, mb(v * 1024)])),
    };
    appendFileSync(file, JSON.stringify(row) + '\n');
  }, every).unref();
}
