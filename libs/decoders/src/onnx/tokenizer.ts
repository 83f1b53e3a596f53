/**
 * A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (the format Qwen, Llama 3 and GPT-2
 * class models ship): added/special tokens matched first, then the pre-tokenizer's split (ByteLevel's GPT-2
 * pattern, or a Sequence of a Split regex and ByteLevel as Qwen has), bytes mapped to printable characters,
 * BPE merges applied by rank, and the reverse for decoding. Other model types are refused with what was found.
 */

/** GPT-2's split: contractions, letters, digits, other symbols, and whitespace runs. */
const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/** GPT-2's reversible map of the 256 byte values to printable characters. */
function byteChars(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const chars = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return chars;
}

export const BYTE_CHARS = byteChars();

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  pre_tokenizer?: PreTokenizerJson | null;
}

interface PreTokenizerJson {
  type?: string;
  use_regex?: boolean;
  pattern?: { Regex?: string; String?: string };
  pretokenizers?: PreTokenizerJson[];
}

/** JavaScript has no inline `(?i:…)`; Qwen's and Llama's patterns use it only for English contractions. */
function jsPattern(pattern: string): RegExp {
  const fixed = pattern.replace(
    /\(\?i:([^)]*)\)/g,
    (_, body: string) => `(?:${body.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`)})`,
  );
  try {
    return new RegExp(fixed, 'gu');
  } catch (e) {
    throw new Error(`tokenizer.json: pre-tokenizer pattern is not usable here (${(e as Error).message})`);
  }
}

export class BpeTokenizer {
  private readonly vocab: Map<string, number>;
  private readonly byId: string[] = [];
  private readonly ranks = new Map<string, number>();
  private readonly added: { id: number; content: string; special: boolean }[];
  private readonly addedSplit: RegExp | null;
  private readonly split: RegExp;
  private readonly byteOf = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  private constructor(json: TokenizerJson) {
    const model = json.model;
    if (model?.type !== 'BPE' || !model.vocab || !model.merges)
      throw new Error(
        `tokenizer.json: only byte-level BPE models are supported, found model.type ${JSON.stringify(model?.type)}`,
      );
    this.vocab = new Map(Object.entries(model.vocab));
    for (const [token, id] of this.vocab) this.byId[id] = token;
    model.merges.forEach((m, rank) => {
      const pair = typeof m === 'string' ? m.split(' ') : m;
      this.ranks.set(`${pair[0]} ${pair[1]}`, rank);
    });
    this.added = (json.added_tokens ?? []).map((t) => ({
      id: t.id,
      content: t.content,
      special: t.special ?? false,
    }));
    for (const t of this.added) this.byId[t.id] = t.content;
    this.addedSplit = this.added.length
      ? new RegExp(
          `(${[...this.added]
            .sort((a, b) => b.content.length - a.content.length)
            .map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
            .join('|')})`,
          'u',
        )
      : null;
    this.split = jsPattern(findPattern(json.pre_tokenizer ?? null));
    BYTE_CHARS.forEach((c, b) => this.byteOf.set(c, b));
    for (const c of BYTE_CHARS)
      if (!this.vocab.has(c))
        throw new Error(`tokenizer.json: vocab lacks the byte token ${JSON.stringify(c)}`);
  }

  static fromJson(text: string): BpeTokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(text) as TokenizerJson;
    } catch {
      throw new Error('tokenizer.json is not JSON');
    }
    return new BpeTokenizer(json);
  }

  get vocabSize(): number {
    return this.byId.length;
  }

  /** The id of a token (a special token such as <|im_end|>), or an error naming it. */
  id(token: string): number {
    const id = this.added.find((t) => t.content === token)?.id ?? this.vocab.get(token);
    if (id === undefined) throw new Error(`tokenizer has no token ${JSON.stringify(token)}`);
    return id;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    const pieces = this.addedSplit ? text.split(this.addedSplit) : [text];
    pieces.forEach((piece, i) => {
      if (piece === '') return;
      // split() with a capture group puts the matched added tokens at odd indices
      if (this.addedSplit && i % 2 === 1) {
        out.push(this.id(piece));
        return;
      }
      for (const word of piece.match(this.split) ?? []) out.push(...this.word(word));
    });
    return out;
  }

  decode(ids: readonly number[], skipSpecial = true): string {
    const bytes: number[] = [];
    let text = '';
    const flush = () => {
      text += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    };
    for (const id of ids) {
      const token = this.byId[id];
      if (token === undefined) continue;
      const added = this.added.find((t) => t.id === id);
      if (added) {
        flush();
        if (!(skipSpecial && added.special)) text += added.content;
        continue;
      }
      for (const c of token) {
        const b = this.byteOf.get(c);
        if (b !== undefined) bytes.push(b);
      }
    }
    flush();
    return text;
  }

  private word(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let parts = [...Buffer.from(word, 'utf8')].map((b) => BYTE_CHARS[b]!);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    const ids = parts.map((p) => {
      const id = this.vocab.get(p);
      if (id === undefined)
        throw new Error(`tokenizer.json: merge result ${JSON.stringify(p)} is not in the vocab`);
      return id;
    });
    if (this.cache.size < 50_000) this.cache.set(word, ids);
    return ids;
  }
}

function findPattern(pre: PreTokenizerJson | null): string {
  if (!pre) return GPT2_PATTERN;
  if (pre.type === 'ByteLevel') return GPT2_PATTERN;
  if (pre.type === 'Split' && pre.pattern?.Regex) return pre.pattern.Regex;
  if (pre.type === 'Sequence' && pre.pretokenizers) {
    const split = pre.pretokenizers.find((p) => p.type === 'Split' && p.pattern?.Regex);
    return split?.pattern?.Regex ?? GPT2_PATTERN;
  }
  throw new Error(`tokenizer.json: pre-tokenizer ${JSON.stringify(pre.type)} is not supported`);
}

/**
 * Trains byte-level BPE merges on a corpus (for the generated test model's tokenizer): the most frequent
 * adjacent pair within pre-tokenized words is merged, `merges` times. Deterministic (ties by first seen).
 */
export function trainBpe(
  corpus: string,
  merges: number,
): { vocab: Record<string, number>; merges: string[] } {
  const split = jsPattern(GPT2_PATTERN);
  const words = new Map<string, number>();
  for (const w of corpus.match(split) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
  let seqs = [...words].map(([w, n]) => ({
    parts: [...Buffer.from(w, 'utf8')].map((b) => BYTE_CHARS[b]!),
    n,
  }));
  const vocab: Record<string, number> = {};
  BYTE_CHARS.forEach((c, i) => (vocab[c] = i));
  const out: string[] = [];
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, number>();
    for (const s of seqs)
      for (let i = 0; i < s.parts.length - 1; i++) {
        const k = `${s.parts[i]} ${s.parts[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + s.n);
      }
    let best = '';
    let bestN = 1;
    for (const [k, n] of counts)
      if (n > bestN) {
        best = k;
        bestN = n;
      }
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    out.push(best);
    if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
    seqs = seqs.map((s) => {
      const parts: string[] = [];
      for (let i = 0; i < s.parts.length; i++) {
        if (i < s.parts.length - 1 && s.parts[i] === a && s.parts[i + 1] === b) {
          parts.push(a + b);
          i++;
        } else parts.push(s.parts[i]!);
      }
      return { parts, n: s.n };
    });
  }
  return { vocab, merges: out };
}
