import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

// Loaded by the test runner into every test file's process (node --test --import): keeps a copy of each
// HTTP response a test reads through fetch (status, headers, body) in $VIGIL_TEST_TMP/responses/, for
// the runner's suite-wide credential scan. A server-sent event stream is copied as the test reads it,
// so a test that stops reading still closes the connection.
const root = process.env.VIGIL_TEST_TMP;
if (root) {
  const dir = join(root, 'responses');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.log`);
  const keep = (chunk: Uint8Array | string) => {
    try {
      appendFileSync(file, chunk);
    } catch {
      // the runner removed its directory: the run is over
    }
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await realFetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    keep(
      `\n${res.status} ${init?.method ?? 'GET'} ${url}\n${[...res.headers].map((h) => h.join(': ')).join('\n')}\n\n`,
    );
    if (!res.body) return res;
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      const tap = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          keep(chunk);
          controller.enqueue(chunk);
        },
      });
      return new Response(res.body.pipeThrough(tap), {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    }
    void res
      .clone()
      .arrayBuffer()
      .then((b) => keep(new Uint8Array(b)))
      .catch(() => undefined);
    return res;
  };
}
