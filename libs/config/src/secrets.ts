import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.js';

/**
 * The API key in a mounted secret file named by the variable `env` (whitespace around it trimmed);
 * undefined when no file is set. A file that cannot be read stops the app with the variable to fix.
 */
export function readKeyFile(path: string, env: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new ConfigError([
      `${env}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); mount the key there or unset it`,
    ]);
  }
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export class SecretNotFoundError extends Error {
  constructor(name: string, dir: string, reason: string) {
    super(
      `credentials secret "${name}" cannot be read from ${join(dir, name)} (${reason}); mount a secret with files "username" and "password" there (or keys ${name}.username and ${name}.password in ${dir}), or set VIGIL_SECRETS_DIR`,
    );
    this.name = 'SecretNotFoundError';
  }
}

/**
 * Reads camera credentials the way Kubernetes mounts Secrets: `<dir>/<name>/username` and `.../password`
 * (a Secret per camera, each mounted in its own folder), or `<dir>/<name>.username` and `<dir>/<name>.password`
 * (one Secret holding every camera's keys, mounted whole: k8s/). Read at every (re)start of a stream, so a
 * rotated secret takes effect without a restart of Vigil. Adapter over the file system.
 */
export class FileSecretStore {
  constructor(readonly dir: string) {}

  credentials(name: string): Credentials {
    if (!/^[a-z0-9][a-z0-9._-]{0,252}$/.test(name))
      throw new SecretNotFoundError(name, this.dir, 'invalid name');
    const layouts = [
      (key: string) => join(this.dir, name, key),
      (key: string) => join(this.dir, `${name}.${key}`),
    ];
    let code = 'ENOENT';
    for (const path of layouts) {
      try {
        const read = (key: string) => readFileSync(path(key), 'utf8').replace(/\r?\n$/, '');
        return { username: read('username'), password: read('password') };
      } catch (err) {
        const c = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        // a folder that exists but cannot be read says more than the other layout's absence
        if (code === 'ENOENT') code = c;
      }
    }
    throw new SecretNotFoundError(name, this.dir, code === 'ENOENT' ? 'no such file' : code);
  }
}
