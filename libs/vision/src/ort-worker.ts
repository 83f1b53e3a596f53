/**
 * The thread that holds ONNX Runtime sessions. onnxruntime-node runs a session synchronously on the thread
 * that calls it, so inference on the main thread would stall Kafka heartbeats, health probes and the
 * batcher's own timers for as long as a batch takes (milliseconds here, seconds for a large encoder on
 * CPU). Messages: see OrtRequest / OrtReply in ort-session.ts.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { type OrtReply, type OrtRequest } from './ort-session.js';

ort.env.logLevel = 'fatal';

const port = parentPort;
if (!port) throw new Error('ort-worker.js runs as a worker thread (new Worker), not on its own');

let session: ort.InferenceSession | null = null;
// ONNX Runtime's binding refuses views of shared memory: such feeds are copied into these (one per input)
const scratch = new Map<string, Float32Array>();

function ownFloats(name: string, data: Float32Array): Float32Array {
  if (!(data.buffer instanceof SharedArrayBuffer)) return data;
  let s = scratch.get(name);
  if (!s || s.length < data.length) {
    s = new Float32Array(data.length);
    scratch.set(name, s);
  }
  const view = s.subarray(0, data.length);
  view.set(data);
  return view;
}

const reply = (r: OrtReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
const firstLine = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0] ?? '';

port.on('message', (req: OrtRequest) => {
  void handle(req);
});

async function handle(req: OrtRequest): Promise<void> {
  try {
    switch (req.op) {
      case 'load': {
        session = await ort.InferenceSession.create(req.bytes, req.options);
        reply({
          id: req.id,
          ok: true,
          signature: {
            inputNames: [...session.inputNames],
            outputNames: [...session.outputNames],
            inputs: session.inputMetadata.map((m) => ({
              name: m.name,
              shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' ? d : String(d))) : null,
            })),
          },
        });
        return;
      }
      case 'run': {
        if (!session) throw new Error('no session loaded');
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(req.feeds)) {
          const data = t.data instanceof Float32Array ? ownFloats(name, t.data) : t.data;
          feeds[name] = new ort.Tensor(t.type, data, t.dims);
        }
        const result = await session.run(feeds);
        const outputs: Record<string, { data: unknown; dims: number[] }> = {};
        for (const [name, t] of Object.entries(result))
          outputs[name] = { data: t.data, dims: t.dims.map(Number) };
        reply({ id: req.id, ok: true, outputs });
        return;
      }
      case 'release': {
        await session?.release();
        session = null;
        reply({ id: req.id, ok: true });
        return;
      }
    }
  } catch (e) {
    reply({ id: req.id, ok: false, error: firstLine(e) });
  }
}
