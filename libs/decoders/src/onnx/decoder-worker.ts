/**
 * The thread that holds an in-process decoder (DecoderRuntime): onnxruntime-node runs sessions on the
 * calling thread, and a generation is many runs, so it lives here and the event loop stays free. The KV
 * caches and each stream's prefix stay on this thread (on the GPU with CUDA); only prompts and answers
 * cross. Messages: see DecoderWorkerRequest / DecoderWorkerReply in onnx-decoder.ts.
 */
import { parentPort } from 'node:worker_threads';
import { DecoderRuntime } from './decoder-runtime.js';
import { type DecoderWorkerReply, type DecoderWorkerRequest } from './onnx-decoder.js';

const port = parentPort;
if (!port) throw new Error('decoder-worker.js runs as a worker thread (new Worker), not on its own');

let runtime: DecoderRuntime | null = null;
const reply = (r: DecoderWorkerReply) => port.postMessage(r);
const firstLine = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0] ?? '';

// one request at a time, in order: a generation holds the model until it is done
let chain = Promise.resolve();
port.on('message', (req: DecoderWorkerRequest) => {
  chain = chain.then(() => handle(req));
});

async function handle(req: DecoderWorkerRequest): Promise<void> {
  try {
    switch (req.op) {
      case 'load':
        runtime = await DecoderRuntime.load(req.manifestPath, req.options);
        reply({ id: req.id, ok: true, manifest: runtime.manifest });
        return;
      case 'generate': {
        if (!runtime) throw new Error('no model loaded');
        const results = await runtime.generate(req.requests, req.options);
        reply({ id: req.id, ok: true, results, stats: { ...runtime.stats } });
        return;
      }
      case 'release':
        await runtime?.release();
        runtime = null;
        reply({ id: req.id, ok: true });
        return;
    }
  } catch (e) {
    reply({ id: req.id, ok: false, error: firstLine(e) });
  }
}
