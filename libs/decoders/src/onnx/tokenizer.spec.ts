import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@vigil/testing';
import { BYTE_CHARS, BpeTokenizer, trainBpe } from './tokenizer.js';

const shipped = () =>
  BpeTokenizer.fromJson(readFileSync(join(repoRoot(), 'models', 'tiny-moe-test', 'tokenizer.json'), 'utf8'));

test('any text survives encode and decode, accents, emoji and newlines included', () => {
  const tok = shipped();
  for (const text of [
    'The conveyor belt runs.',
    'Caméra 3 — zone de chargement: 12 °C, ça roule 🚚\n\tdone',
    '{"summary": "A quiet scene", "findings": []}',
    '',
  ])
    assert.equal(tok.decode(tok.encode(text)), text);
});

test('special tokens are matched whole and skipped on decode unless asked for', () => {
  const tok = shipped();
  const ids = tok.encode('<|im_start|>user\nhello<|im_end|>');
  assert.equal(ids[0], tok.id('<|im_start|>'));
  assert.equal(ids.at(-1), tok.id('<|im_end|>'));
  assert.equal(tok.decode(ids), 'user\nhello');
  assert.equal(tok.decode(ids, false), '<|im_start|>user\nhello<|im_end|>');
  assert.throws(() => tok.id('<|nope|>'), /no token "<\|nope\|>"/);
});

test('merges apply by rank: frequent words of the corpus are one token, rare ones several', () => {
  const tok = shipped();
  assert.equal(tok.encode(' the').length, 1);
  assert.ok(tok.encode(' xylophone').length >= 4);
});

test('BPE training merges the most frequent pair first', () => {
  const { vocab, merges } = trainBpe('aaab aaab aaab ab', 2);
  assert.equal(merges[0], 'a a');
  assert.ok('aa' in vocab);
  assert.equal(Object.keys(vocab).length, 256 + 2);
});

test('a Qwen-style pre-tokenizer (Sequence of a Split regex with (?i:…) and ByteLevel) loads and splits', () => {
  const vocab: Record<string, number> = {};
  BYTE_CHARS.forEach((c, i) => (vocab[c] = i));
  const tok = BpeTokenizer.fromJson(
    JSON.stringify({
      model: { type: 'BPE', vocab, merges: [] },
      added_tokens: [],
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          {
            type: 'Split',
            pattern: {
              Regex:
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            },
            behavior: 'Isolated',
          },
          { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
        ],
      },
    }),
  );
  assert.equal(tok.decode(tok.encode("It'S 42 o'clock")), "It'S 42 o'clock");
});

test('a tokenizer that is not byte-level BPE is refused, saying what it found', () => {
  assert.throws(
    () => BpeTokenizer.fromJson(JSON.stringify({ model: { type: 'WordPiece', vocab: {} } })),
    /only byte-level BPE .* found model.type "WordPiece"/,
  );
  assert.throws(() => BpeTokenizer.fromJson('nope'), /not JSON/);
});
