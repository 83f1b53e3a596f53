import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server } from 'node:http';
import { type Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { FileSecretStore, type GatewayConfig, cameraPolicy } from '@vigil/config';
import { redactSecrets, streamUrlProblem, type StreamSpec } from '@vigil/contracts';
import { type LiveEncode, inputWhitelists, startLiveEncode, withCredentials } from '@vigil/media';
import { type Logger } from '@vigil/observability';
import { type GatewayMetrics } from './gateway-metrics.js';

/** A viewer this far behind (bytes queued) misses chunks until it catches up. */
const MAX_BUFFERED = 2 << 20;
const TICKET_TTL_MS = 30_000;

interface Feed {
  encode: LiveEncode;
  viewers: Set<WebSocket>;
  stderr: string;
}

/**
 * The dashboard's live view: a camera re-encoded to MPEG-1 (libs/media's startLiveEncode) and sent to JSMpeg
 * over a WebSocket (/live/<id>?ticket=…). The encode starts with a camera's first viewer and stops with its
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
      if (!spec.enabled) return refuse(409, 'Conflict');
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
    const problem = streamUrlProblem(spec.url, cameraPolicy(this.config));
    if (problem) throw new Error(`stream URL ${problem}`);
    const url = spec.credentials
      ? withCredentials(
          spec.url,
          this.secrets.credentials(spec.credentials.secret),
          spec.credentials.queryParam,
        )
      : spec.url;
    const encode = startLiveEncode(url, this.config.ffmpegPath, inputWhitelists(spec.id, spec.url));
    const feed: Feed = { encode, viewers: new Set(), stderr: '' };
    encode.onData((data) => {
      for (const v of feed.viewers)
        if (v.readyState === v.OPEN && v.bufferedAmount < MAX_BUFFERED) v.send(data);
    });
    encode.onStderr((text) => (feed.stderr = (feed.stderr + text).slice(-2000)));
    encode.onExit((code) => {
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
    feed.encode.stop();
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
