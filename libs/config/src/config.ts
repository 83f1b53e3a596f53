import { type z } from 'zod';

export type Env = Readonly<Record<string, string | undefined>>;

/** Raised at boot when configuration is invalid; the message names every bad key and how to fix it. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Maps a config field to the environment variable that sets it and a hint shown when it is wrong. */
export interface EnvBinding {
  readonly env: string;
  readonly hint: string;
  readonly parse?: 'string' | 'number' | 'boolean' | 'list' | 'json';
}

function coerce(raw: string, kind: EnvBinding['parse']): unknown {
  switch (kind) {
    case 'number': {
      const n = Number(raw.trim());
      return raw.trim() === '' || Number.isNaN(n) ? raw : n;
    }
    case 'boolean':
      return /^(1|true|yes|on)$/i.test(raw) ? true : /^(0|false|no|off)$/i.test(raw) ? false : raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'json':
      try {
        return JSON.parse(raw);
      } catch (e) {
        return new InvalidJson((e as Error).message);
      }
    default:
      return raw;
  }
}

class InvalidJson {
  constructor(readonly reason: string) {}
}

/**
 * Reads `bindings` from `env`, validates against `schema`, and returns the typed config or throws one
 * ConfigError listing every problem (not just the first), each as `ENV_VAR: what is wrong (hint)`.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  bindings: { readonly [K in keyof z.input<S>]-?: EnvBinding },
  env: Env,
): z.output<S> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, binding] of Object.entries<EnvBinding>(bindings)) {
    const value = env[binding.env];
    if (value === undefined || value === '') continue;
    const parsed = coerce(value, binding.parse);
    if (parsed instanceof InvalidJson) {
      problems.push(`${binding.env}: is not valid JSON (${parsed.reason}); ${binding.hint}`);
      continue;
    }
    raw[key] = parsed;
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const [top, ...rest] = issue.path.map(String);
      const binding = top !== undefined ? (bindings as Record<string, EnvBinding>)[top] : undefined;
      const name = binding ? binding.env + (rest.length ? `[${rest.join('.')}]` : '') : issue.path.join('.');
      const missing = issue.code === 'invalid_type' && issue.input === undefined;
      const what = missing ? 'is required' : issue.message;
      problems.push(`${name}: ${what}${binding ? ` (${binding.hint})` : ''}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data!;
}
