import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config.js';
import { FileSecretStore, SecretNotFoundError, readKeyFile } from './secrets.js';

test('camera credentials are read from a folder per secret or from one Secret mounted whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-secrets-'));
  mkdirSync(join(dir, 'yard'));
  writeFileSync(join(dir, 'yard/username'), 'viewer\n');
  writeFileSync(join(dir, 'yard/password'), 's3cret:/@x\n');
  // the layout of k8s/: one Secret vigil-camera-credentials with keys <secret>.username / .password
  writeFileSync(join(dir, 'dock.username'), 'op');
  writeFileSync(join(dir, 'dock.password'), 'p\r\n');
  const store = new FileSecretStore(dir);
  assert.deepEqual(store.credentials('yard'), { username: 'viewer', password: 's3cret:/@x' });
  assert.deepEqual(store.credentials('dock'), { username: 'op', password: 'p' });

  // half a secret is missing, not a mix of two layouts
  writeFileSync(join(dir, 'gate.username'), 'u');
  assert.throws(() => store.credentials('gate'), /credentials secret "gate" .*no such file/);
  const err = (() => {
    try {
      store.credentials('absent');
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof SecretNotFoundError);
  assert.match(err.message, /absent\.username and absent\.password/);
  assert.throws(() => store.credentials('../etc'), /invalid name/);
});

test('an API key file is read trimmed; an unset one is no key; an unreadable one names its variable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-key-'));
  writeFileSync(join(dir, 'key'), '  sk-test-0123456789\n');
  assert.equal(readKeyFile(join(dir, 'key'), 'VIGIL_ASK_API_KEY_FILE'), 'sk-test-0123456789');
  assert.equal(readKeyFile('', 'VIGIL_ASK_API_KEY_FILE'), undefined);
  assert.throws(
    () => readKeyFile(join(dir, 'missing'), 'VIGIL_DECODER_API_KEY_FILE'),
    (e: unknown) =>
      e instanceof ConfigError &&
      /^invalid configuration: VIGIL_DECODER_API_KEY_FILE: cannot read .*missing \(ENOENT\); mount the key there or unset it$/.test(
        e.message,
      ),
  );
});
