// Runs one StreamSupervisor over a file as fast as ffmpeg can read it and prints {"frames":N}: the
// ingest benchmark measures this process's CPU (and ffmpeg's, as its child) per sampled frame.
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { StreamSpecSchema } from '@vigil/contracts';
import { StreamSupervisor } from '@vigil/media';

const [clip, mode] = process.argv.slice(2);
if (mode === 'noop') {
  process.stdout.write(JSON.stringify({ frames: 0 }) + '\n');
} else {
  const spec = StreamSpecSchema.parse({
    id: 'bench',
    url: `file://${clip}`,
    sampling: mode === 'keyframes' ? { mode: 'keyframes' } : { mode: 'fps', fps: 2 },
    output: { width: 640, height: 360 },
  });
  let frames = 0;
  const sup = new StreamSupervisor(
    spec,
    {
      ffmpegPath: 'ffmpeg',
      stallTimeoutMs: 60_000,
      ioTimeoutMs: 10_000,
      backoffInitialMs: 1000,
      backoffMaxMs: 1000,
      realtime: false,
      fileDirs: [dirname(realpathSync(clip!))],
    },
    () => frames++,
    (s) => {
      if (s.state !== 'backoff') return;
      // the file ended (or failed): report and stop
      void sup.stop().then(() => {
        process.stdout.write(
          JSON.stringify({ frames, error: /end of the stream/.test(s.reason ?? '') ? null : s.reason }) +
            '\n',
        );
      });
    },
  );
  sup.start();
}
