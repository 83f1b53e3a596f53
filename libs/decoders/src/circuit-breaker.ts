export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number;
  /** How long it stays open before one trial call is let through (half-open). */
  readonly openMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker for one backend: closed → (failureThreshold consecutive failures) → open → (openMs)
 * → half-open: one trial call; its success closes the breaker, its failure opens it again. Pure: the
 * caller passes the time.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;
  /** Times it opened (a metric). */
  opened = 0;

  constructor(private readonly opts: BreakerOptions) {
    if (opts.failureThreshold < 1) throw new RangeError('failureThreshold must be ≥ 1');
  }

  state(now: number): BreakerState {
    if (this.openedAt === null) return 'closed';
    return now - this.openedAt >= this.opts.openMs ? 'half-open' : 'open';
  }

  /** May a call go to the backend now? In half-open, only one trial at a time. */
  allow(now: number): boolean {
    const s = this.state(now);
    if (s === 'closed') return true;
    if (s === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.trialInFlight = false;
  }

  failure(now: number): void {
    this.failures++;
    const trial = this.trialInFlight;
    this.trialInFlight = false;
    if (trial || (this.openedAt === null && this.failures >= this.opts.failureThreshold)) {
      if (this.openedAt === null || trial) this.opened++;
      this.openedAt = now;
    }
  }
}
