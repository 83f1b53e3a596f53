import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKafka } from './local-kafka.js';

/**
 * The broker for an integration or e2e test: the shared one the test runner started (VIGIL_TEST_BROKERS),
 * or, when a test file is run on its own, a private local broker stopped by the returned function.
 */
export async function useTestKafka(): Promise<{ brokers: string[]; stop: () => Promise<void> }> {
  const shared = process.env.VIGIL_TEST_BROKERS;
  if (shared) return { brokers: shared.split(','), stop: () => Promise.resolve() };
  const kafka = new LocalKafka({ dataDir: mkdtempSync(join(tmpdir(), 'vigil-kafka-')) });
  await kafka.start();
  return { brokers: kafka.brokers, stop: () => kafka.stop() };
}

/** A scratch directory for a test's files (clips, data), under the runner's temp dir when there is one. */
export function testDir(prefix: string): string {
  return mkdtempSync(join(process.env.VIGIL_TEST_TMP ?? tmpdir(), `${prefix}-`));
}
