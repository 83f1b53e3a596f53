import {
  ConflictException,
  Injectable,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { type ControlMessage, type StreamSpec, type StreamStatus } from '@vigil/contracts';
import { FeedService, type LatestFrame, publicSpec } from './feed.service.js';
import { LiveViewHub } from './live-view.js';
import { GatewayRepository } from './repository.js';

/** A camera as the API shows it: its spec with credentials redacted, and its latest status. */
export type StreamView = StreamSpec & { status: StreamStatus | null };

/**
 * Cameras: StreamSpecs on the compacted vigil.streams.v1 (through the feed), their live status and scores
 * (from the repository), the latest frame and the live view. Every "no such camera" is answered here.
 */
@Injectable()
export class StreamsService {
  constructor(
    private readonly feed: FeedService,
    private readonly repo: GatewayRepository,
    private readonly live: LiveViewHub,
  ) {}

  private view(spec: StreamSpec): StreamView {
    return { ...publicSpec(spec), status: this.repo.status(spec.id) };
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

  async create(spec: StreamSpec): Promise<StreamView> {
    if (this.feed.spec(spec.id))
      throw new ConflictException(`stream "${spec.id}" exists; PUT /api/streams/${spec.id} changes it`);
    await this.feed.putSpec(spec);
    return this.view(spec);
  }

  async replace(spec: StreamSpec): Promise<StreamView> {
    this.existing(spec.id);
    await this.feed.putSpec(spec);
    return this.view(spec);
  }

  async remove(id: string): Promise<void> {
    await this.feed.removeSpec(this.existing(id).id);
  }

  async summarize(id: string, reason: string): Promise<ControlMessage> {
    return this.feed.requestSummary(this.existing(id).id, reason);
  }

  frame(id: string): LatestFrame {
    const spec = this.existing(id);
    const f = this.feed.latestFrame(spec.id);
    if (!f) throw new NotFoundException(`no frame of "${spec.id}" seen yet; is the camera running?`);
    return f;
  }

  liveTicket(id: string) {
    const spec = this.existing(id);
    if (!this.live.enabled)
      throw new ServiceUnavailableException('live view is off (VIGIL_GATEWAY_LIVE_MAX_VIEWERS=0)');
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
