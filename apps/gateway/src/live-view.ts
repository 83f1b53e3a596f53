import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { type Duplex } from 'node:stream';
import { type ChildProcess } from 'node:child_process';
import { type WebSocket, WebSocketServer } from 'ws';
import { FileSecretStore, type GatewayConfig } from '@vigil/config';
import { redactSecrets, streamUrlProblem, type StreamSpec } from '@vigil/contracts';
import { withCredentials } from '@vigil/media';
import { type Logger } from '@vigil/observability';
import { type GatewayMetrics } from './gateway-metrics.js';

/** node-rtsp-stream's muxer: ffmpeg re-encoding a camera to MPEG-1 in MPEG-TS for JSMpeg (CommonJS). */
interface Mpeg1Muxer {
  stream: ChildProcess;
  on(event: 'mpeg1data', fn: (data: Buffer) => void): void;
  on(event: 'ffmpegStderr', fn: (data: Buffer) => void): void;
}
const Mpeg1Muxer = createRequire(import.meta.url)('node-rtsp-stream/mpeg1muxer.js') as new (o: {
  url: string;
  ffmpegPath: string;
  ffmpegOptions: Record<string, string>;
}) => Mpeg1Muxer;

/** A viewer this far behind (bytes queued) misses chunks until it catches up. */
const MAX_BUFFERED = 2 << 20;
const TICKET_TTL_MS = 30_000;

interface Feed {
  muxer: Mpeg1Muxer;
  viewers: Set<WebSocket>;
  stderr: string;
}

/**
 * The dashboard's live view: a camera re-encoded to MPEG-1 by node-rtsp-stream's muxer and sent to JSMpeg
 * over a WebSocket (/live/<id>?ticket=…). The muxer starts with a camera's first viewer and stops with its
 * last. The browser's WebSocket cannot send the API key, so GET /api/streams/<id>/live (keyed) hands out a
 * ticket good for one connection within 30 s. The camera URL is checked against the same allow-list as
 * ingest before it reaches ffmpeg; credentials come from the secret store and never leave ffmpeg's
 * arguments (its messages are redacted).
 */
export class LiveViewHub {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Map<string, { streamId: string; expires: number }>();
  private readonly feeds = new Map<string, Feed>();
  private readonly secrets: FileSecretStore;
  private viewers = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly specOf: (id: string) => StreamSpec | undefined,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.secrets = new FileSecretStore(config.secretsDir);
  }

  get enabled(): boolean {
    return this.config.liveMaxViewers > 0;
  }

  /** A one-connection ticket for a camera's live view. */
  ticket(streamId: string): { path: string; expiresInS: number } {
    const now = Date.now();
    for (const [t, v] of this.tickets) if (v.expires < now) this.tickets.delete(t);
    const t = randomBytes(18).toString('base64url');
    this.tickets.set(t, { streamId, expires: now + TICKET_TTL_MS });
    return { path: `/live/${streamId}?ticket=${t}`, expiresInS: TICKET_TTL_MS / 1000 };
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://gateway');
      const m = /^\/live\/([a-z0-9][a-z0-9._-]{0,62})$/.exec(url.pathname);
      const refuse = (code: number, why: string) => {
        socket.end(`HTTP/1.1 ${code} ${why}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      };
      if (!m) return refuse(404, 'Not Found');
      const ticket = this.tickets.get(url.searchParams.get('ticket') ?? '');
      if (!ticket || ticket.expires < Date.now() || ticket.streamId !== m[1])
        return refuse(401, 'Unauthorized');
      this.tickets.delete(url.searchParams.get('ticket')!);
      if (this.viewers >= this.config.liveMaxViewers) return refuse(503, 'Service Unavailable');
      const spec = this.specOf(m[1]);
      if (!spec) return refuse(404, 'Not Found');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.join(spec, ws));
    });
  }

  private join(spec: StreamSpec, ws: WebSocket): void {
    let feed = this.feeds.get(spec.id);
    if (!feed) {
      try {
        feed = this.start(spec);
      } catch (err) {
        ws.close(1011, (err as Error).message.slice(0, 120));
        return;
      }
    }
    const f = feed;
    f.viewers.add(ws);
    this.viewers++;
    this.metrics.liveViewers.set(this.viewers);
    ws.on('close', () => {
      if (!f.viewers.delete(ws)) return;
      this.viewers--;
      this.metrics.liveViewers.set(this.viewers);
      if (f.viewers.size === 0) this.stop(spec.id);
    });
  }

  private start(spec: StreamSpec): Feed {
    const problem = streamUrlProblem(spec.url, { allowFiles: spec.replay });
    if (problem) throw new Error(`stream URL ${problem}`);
    const url = spec.credentials
      ? withCredentials(spec.url, this.secrets.credentials(spec.credentials.secret))
      : spec.url;
    const muxer = new Mpeg1Muxer({
      url,
      ffmpegPath: this.config.ffmpegPath,
      ffmpegOptions: {
        '-an': '',
        '-vf': 'scale=640:-2',
        '-r': '25',
        '-b:v': '900k',
        '-bf': '0',
        '-loglevel': 'error',
        '-nostdin': '',
      },
    });
    const feed: Feed = { muxer, viewers: new Set(), stderr: '' };
    // the muxer does not listen for spawn errors (no ffmpeg at VIGIL_FFMPEG_PATH): without this, a crash
    muxer.stream.on(
      'error',
      (err) => (feed.stderr += `\ncannot run ${this.config.ffmpegPath}: ${err.message}`),
    );
    muxer.on('mpeg1data', (data) => {
      for (const v of feed.viewers)
        if (v.readyState === v.OPEN && v.bufferedAmount < MAX_BUFFERED) v.send(data);
    });
    muxer.on('ffmpegStderr', (data) => (feed.stderr = (feed.stderr + data.toString()).slice(-2000)));
    muxer.stream.on('exit', (code) => {
      if (this.feeds.get(spec.id) !== feed) return;
      this.feeds.delete(spec.id);
      const why = redactSecrets(feed.stderr.trim().split('\n').pop() ?? '') || `ffmpeg exited (${code})`;
      this.log.warn(`live view of ${spec.id} ended: ${why}`);
      for (const v of feed.viewers) v.close(1011, 'the camera stream ended');
    });
    this.feeds.set(spec.id, feed);
    this.log.info('live view started', { streamId: spec.id });
    return feed;
  }

  private stop(streamId: string): void {
    const feed = this.feeds.get(streamId);
    if (!feed) return;
    this.feeds.delete(streamId);
    feed.muxer.stream.kill('SIGTERM');
    this.log.info('live view stopped (no viewers left)', { streamId });
  }

  /** ffmpeg processes running now (tests check that none is left). */
  get running(): number {
    return this.feeds.size;
  }

  onModuleDestroy(): void {
    this.close();
  }

  close(): void {
    for (const id of [...this.feeds.keys()]) this.stop(id);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
