import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Role = 'read' | 'write';

export interface KeyHolder {
  role: Role;
  /** The first 12 hex digits of the key's sha256: names the key in logs and rate limits, never the key. */
  id: string;
}

export class ApiKeysError extends Error {
  constructor(path: string, problem: string) {
    super(
      `API keys file ${path}: ${problem}; write one "<read|write> <key>" per line, keys of 24 or more characters (e.g. from openssl rand -hex 24), and point VIGIL_GATEWAY_API_KEYS_FILE at it`,
    );
    this.name = 'ApiKeysError';
  }
}

const sha = (key: string) => createHash('sha256').update(key).digest('hex');

/**
 * The gateway's API keys, read from a file (a mounted secret). `read` keys may call GET routes and open
 * the event stream; `write` keys may also add, change and remove cameras. Keys are kept as hashes only.
 */
export class ApiKeys {
  private constructor(private readonly byHash: Map<string, KeyHolder>) {}

  static fromFile(path: string): ApiKeys {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ApiKeysError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return ApiKeys.parse(text, path);
  }

  static parse(text: string, origin = '(keys)'): ApiKeys {
    const byHash = new Map<string, KeyHolder>();
    text.split(/\r?\n/).forEach((line, i) => {
      const t = line.trim();
      if (!t || t.startsWith('#')) return;
      const m = /^(read|write)\s+(\S+)$/.exec(t);
      if (!m) throw new ApiKeysError(origin, `line ${i + 1} is not "<read|write> <key>"`);
      if (m[2]!.length < 24)
        throw new ApiKeysError(origin, `the key on line ${i + 1} is shorter than 24 characters`);
      const h = sha(m[2]!);
      byHash.set(h, { role: m[1] as Role, id: h.slice(0, 12) });
    });
    if (byHash.size === 0) throw new ApiKeysError(origin, 'holds no keys');
    return new ApiKeys(byHash);
  }

  /** The key sent in `x-api-key` or `Authorization: Bearer`, if any. */
  static presented(headers: Record<string, string | string[] | undefined>): string | undefined {
    const x = headers['x-api-key'];
    if (typeof x === 'string' && x) return x;
    const auth = headers.authorization;
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (m) return m[1];
    }
    return undefined;
  }

  holder(key: string | undefined): KeyHolder | undefined {
    return key === undefined ? undefined : this.byHash.get(sha(key));
  }
}
