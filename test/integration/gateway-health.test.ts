import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadGatewayConfig } from '@vigil/config';
import { Logger } from '@vigil/observability';
import { LocalKafka, freePort, testDir, waitFor } from '@vigil/testing';
import { startGateway } from '../../apps/gateway/src/main.js';

// The gateway's readiness follows its broker: a broker of this test's own is stopped and started again.
// While it is gone, /health/ready says 503 and why, /health/live stays 200, and the API keeps answering
// from the local store.

test('ready turns 503 while Kafka is gone and 200 when it is back; the API answers from the store meanwhile', async () => {
  const dir = testDir('gateway-health');
  const kafka = new LocalKafka({ port: await freePort(), dataDir: join(dir, 'kafka') });
  await kafka.start();
  const key = `read-${randomUUID()}`;
  writeFileSync(join(dir, 'keys'), `read ${key}\n`);
  const log = new Logger('gateway-health', { level: 'error' });
  const gw = await startGateway(
    loadGatewayConfig({
      VIGIL_KAFKA_BROKERS: kafka.brokers.join(','),
      VIGIL_GATEWAY_PORT: '0',
      VIGIL_GATEWAY_HTTP_PORT: '0',
      VIGIL_GATEWAY_HOST: '127.0.0.1',
      VIGIL_GATEWAY_API_KEYS_FILE: join(dir, 'keys'),
      VIGIL_GATEWAY_DB: join(dir, 'gateway.db'),
      VIGIL_LOG_LEVEL: 'error',
    }),
    log,
  );
  const get = async (path: string, port = gw.port) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-api-key': key } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  try {
    await waitFor('ready', async () => (await get('/health/ready')).status === 200, 20_000);
    await kafka.stop();
    const t0 = Date.now();
    await waitFor('not ready', async () => (await get('/health/ready')).status === 503, 30_000);
    const down = await get('/health/ready');
    assert.match(
      String(down.body.detail),
      /no answer from Kafka at 127\.0\.0\.1:\d+ for \d+ s; serving what is stored/,
    );
    assert.equal((await get('/health/ready', gw.opsPort)).status, 503, 'the ops port says the same');
    assert.ok(Date.now() - t0 < 30_000);
    assert.equal((await get('/health/live')).status, 200, 'alive all the same');
    assert.equal((await get('/api/anomalies')).status, 200, 'reads are served from the store');
    await kafka.start();
    await waitFor('ready again', async () => (await get('/health/ready')).status === 200, 90_000);
  } finally {
    await gw.close();
    await kafka.stop();
  }
});
