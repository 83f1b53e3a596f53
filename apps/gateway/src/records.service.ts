import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { type Summary } from '@vigil/contracts';
import {
  type AnomalyQuery,
  BadCursorError,
  GatewayRepository,
  type Page,
  type StoredAnomaly,
  type SummaryQuery,
} from './repository.js';

const paged = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BadCursorError) throw new BadRequestException(err.message);
    throw err;
  }
};

/** Anomaly events (latest phase of each) and summaries, newest first, as the API answers them. */
@Injectable()
export class RecordsService {
  constructor(private readonly repo: GatewayRepository) {}

  anomalies(q: AnomalyQuery): Page<StoredAnomaly> {
    return paged(() => this.repo.anomalies(q));
  }

  anomaly(id: string): StoredAnomaly {
    const a = this.repo.anomaly(id);
    if (!a) throw new NotFoundException(`no anomaly event ${id}`);
    return a;
  }

  evidence(id: string): Buffer {
    const jpeg = this.repo.evidence(id);
    if (!jpeg) throw new NotFoundException(`no evidence image for anomaly event ${id}`);
    return jpeg;
  }

  summaries(q: SummaryQuery): Page<Summary> {
    return paged(() => this.repo.summaries(q));
  }
}
