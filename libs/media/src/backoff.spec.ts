import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.js';

test('backoff is between half and all of the capped exponential delay', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const cap = Math.min(30_000, 1000 * 2 ** attempt);
    assert.equal(
      backoffDelay(attempt, 1000, 30_000, () => 0),
      cap / 2,
    );
    assert.equal(
      backoffDelay(attempt, 1000, 30_000, () => 1),
      cap,
    );
  }
});
