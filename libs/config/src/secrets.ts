import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export class SecretNotFoundError extends Error {
  constructor(name: string, dir: string, reason: string) {
    super(
      `credentials secret "${name}" cannot be read from ${join(dir, name)} (${reason}); mount a secret with files "username" and "password" there, or set VIGIL_SECRETS_DIR`,
    );
    this.name = 'SecretNotFoundError';
  }
}

/**
 * Reads camera credentials the way Kubernetes mounts a Secret: `<dir>/<name>/username` and
 * `<dir>/<name>/password`. Read at every (re)start of a stream, so a rotated secret takes effect without a
 * restart of Vigil. Adapter over the file system.
 */
export class FileSecretStore {
  constructor(readonly dir: string) {}

  credentials(name: string): Credentials {
    if (!/^[a-z0-9][a-z0-9._-]{0,252}$/.test(name))
      throw new SecretNotFoundError(name, this.dir, 'invalid name');
    try {
      const read = (key: string) => readFileSync(join(this.dir, name, key), 'utf8').replace(/\r?\n$/, '');
      return { username: read('username'), password: read('password') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SecretNotFoundError(
        name,
        this.dir,
        code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable'),
      );
    }
  }
}
