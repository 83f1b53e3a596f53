import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  type ControlMessage,
  type StreamSpec,
  type StreamStatus,
  redactUrl,
  streamUrlProblem,
} from '@vigil/contracts';
import { type GatewayConfig, cameraPolicy } from '@vigil/config';
import { FeedService, type LatestFrame, publicSpec } from './feed.service.js';
import { GATEWAY_CONFIG } from './gateway.tokens.js';
import { LiveViewHub } from './live-view.js';
import { GatewayRepository } from './repository.js';

/**
 * A camera as the API shows it: its spec with credentials redacted, its latest status (from ingest), and
 * how fast the analyzer scores it (beside ingest's rate, what the analyzer sheds shows).
 */
export type StreamView = StreamSpec & {
  status: StreamStatus | null;
  analyzed: { fps: number; lastAt: string | null };
};

/**
 * Cameras: StreamSpecs on the compacted vigil.streams.v1 (through the feed), their live status and scores
 * (from the repository), the latest frame and the live view. Every "no such camera" is answered here.
 */
@Injectable()
export class StreamsService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly feed: FeedService,
    private readonly repo: GatewayRepository,
    private readonly live: LiveViewHub,
  ) {}

  private view(spec: StreamSpec): StreamView {
    return {
      ...publicSpec(spec),
      status: this.repo.status(spec.id),
      analyzed: this.feed.analyzedOf(spec.id),
    };
  }

  /** The camera's spec, or a 404 that says how to find or add one. */
  existing(id: string): StreamSpec {
    const spec = this.feed.spec(id);
    if (!spec)
      throw new NotFoundException(
        `no stream "${id}"; GET /api/streams lists them, POST /api/streams adds one`,
      );
    return spec;
  }

  list(): { items: StreamView[] } {
    return { items: this.feed.allSpecs().map((s) => this.view(s)) };
  }

  get(id: string): StreamView {
    return this.view(this.existing(id));
  }

  /**
   * The operator's file directories and camera networks, applied to a spec a client writes (ingest applies
   * them again before each ffmpeg start, with the host resolved): a 400 naming body.url.
   */
  private allowed(spec: StreamSpec): StreamSpec {
    const problem = streamUrlProblem(spec.url, cameraPolicy(this.config));
    if (!problem) return spec;
    const issue = `body.url: stream URL ${problem}`;
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: issue,
      issues: [issue],
    });
  }

  async create(spec: StreamSpec): Promise<StreamView> {
    this.allowed(spec);
    if (this.feed.spec(spec.id))
      throw new ConflictException(`stream "${spec.id}" exists; PUT /api/streams/${spec.id} changes it`);
    await this.feed.putSpec(spec);
    return this.view(spec);
  }

  async replace(spec: StreamSpec): Promise<StreamView> {
    const stored = this.existing(spec.id);
    // a URL as GET shows it (query values masked) keeps the stored values of the parameters it masks
    const url = unmaskQuery(spec.url, stored.url);
    const next = this.allowed(url === spec.url ? spec : { ...spec, url });
    await this.feed.putSpec(next);
    return this.view(next);
  }

  async remove(id: string): Promise<void> {
    await this.feed.removeSpec(this.existing(id).id);
  }

  async summarize(id: string, reason: string): Promise<ControlMessage> {
    return this.feed.requestSummary(this.existing(id).id, reason);
  }

  /** The latest frame, or the one captured at `at` (where its boxes were found) while it is kept. */
  frame(id: string, at?: string): LatestFrame {
    const spec = this.existing(id);
    if (at !== undefined) {
      const f = this.feed.frameAt(spec.id, at);
      if (!f)
        throw new NotFoundException(
          `no frame of "${spec.id}" captured at ${at} is kept any more (only the last few seconds); ask /objects again`,
        );
      return f;
    }
    const f = this.feed.latestFrame(spec.id);
    if (!f) throw new NotFoundException(`no frame of "${spec.id}" seen yet; is the camera running?`);
    return f;
  }

  liveTicket(id: string) {
    const spec = this.existing(id);
    if (!this.live.enabled)
      throw new ServiceUnavailableException('live view is off (VIGIL_GATEWAY_LIVE_MAX_VIEWERS=0)');
    if (!spec.enabled)
      throw new ConflictException(
        `stream "${spec.id}" is disabled; enable it (PUT /api/streams/${spec.id} with enabled: true) to watch it live`,
      );
    return this.live.ticket(spec.id);
  }

  /** The tracked objects of the camera's latest scored sample (none when detection is off or not yet). */
  objects(id: string) {
    const spec = this.existing(id);
    const o = this.feed.latestObjects(spec.id);
    return { streamId: spec.id, capturedAt: o?.capturedAt ?? null, items: o?.items ?? [] };
  }

  scores(id: string, sinceMs: number | undefined) {
    const spec = this.existing(id);
    return { streamId: spec.id, items: this.repo.scores(spec.id, sinceMs ?? Date.now() - 600_000) };
  }
}

/**
 * `next` with each query value that is "***" (as the API shows a URL) replaced by the stored URL's value
 * of the same parameter, when the rest of the URL is unchanged; anything else is taken as written.
 */
export function unmaskQuery(next: string, stored: string): string {
  let n: URL, s: URL;
  try {
    n = new URL(next);
    s = new URL(stored);
  } catch {
    return next;
  }
  if (![...n.searchParams.values()].includes('***')) return next;
  const bare = (u: URL) => `${u.protocol}//${u.host}${u.pathname}`;
  if (bare(n) !== bare(s) || redactUrl(next) !== redactUrl(stored)) return next;
  return stored;
}
