import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from './circuit-breaker.js';

test('opens after consecutive failures, lets one trial through after openMs, closes on its success', () => {
  const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000 });
  assert.equal(b.allow(0), true);
  b.failure(0);
  b.failure(10);
  b.success(); // a success in between resets the count
  b.failure(20);
  b.failure(30);
  assert.equal(b.state(30), 'closed');
  b.failure(40);
  assert.equal(b.state(40), 'open');
  assert.equal(b.allow(500), false);
  assert.equal(b.state(1040), 'half-open');
  assert.equal(b.allow(1040), true, 'one trial');
  assert.equal(b.allow(1041), false, 'only one trial at a time');
  b.success();
  assert.equal(b.state(1050), 'closed');
  assert.equal(b.allow(1050), true);
  assert.equal(b.opened, 1);
});

test('a failed trial opens it again for another openMs', () => {
  const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000 });
  b.failure(0);
  assert.equal(b.allow(1000), true);
  b.failure(1000);
  assert.equal(b.state(1500), 'open');
  assert.equal(b.state(2000), 'half-open');
  assert.equal(b.opened, 2);
});
