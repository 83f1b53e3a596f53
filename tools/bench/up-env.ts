import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@vigil/testing';

/**
 * The environment of a `vigil up` on a broker already running (the e2e benchmark's, the chaos suite's):
 * a data dir (`vigil-<name>-up-*`) and demo RTSP port of its own, and free ports for every HTTP server,
 * so a `vigil up` still stopping cannot block the next one.
 */
export async function upEnv(brokers: readonly string[], name: string): Promise<Record<string, string>> {
  return {
    VIGIL_KAFKA_BROKERS: brokers.join(','),
    VIGIL_DATA_DIR: mkdtempSync(join(tmpdir(), `vigil-${name}-up-`)),
    VIGIL_DEMO_RTSP_PORT: String(await freePort()),
    VIGIL_GATEWAY_PORT: '0',
    VIGIL_GATEWAY_HTTP_PORT: '0',
    VIGIL_INGEST_HTTP_PORT: '0',
    VIGIL_ANALYZER_HTTP_PORT: '0',
  };
}
