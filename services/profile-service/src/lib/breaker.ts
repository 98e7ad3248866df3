// A circuit breaker for Redis: after `failureThreshold` consecutive failures it opens and the
// service stops waiting on Redis for `openMs`; then one probe is let through (half-open) and its
// outcome closes or re-opens the circuit. Requests never queue behind a dead cache.
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

export class BreakerOpenError extends Error {
  constructor() {
    super('circuit open: Redis is not being called');
    this.name = 'BreakerOpenError';
  }
}

export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: BreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  /** Runs `fn` if the circuit lets it through; rejects with BreakerOpenError otherwise. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.tryEnter()) return Promise.reject(new BreakerOpenError());
    const probe = this.stateValue === 'half-open';
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (error) {
      pending = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // One `then` rather than an async wrapper: this sits on every Redis read of a cache hit.
    return pending.then(
      (result) => {
        this.onSuccess();
        if (probe) this.probing = false;
        return result;
      },
      (error: unknown) => {
        this.onFailure();
        if (probe) this.probing = false;
        throw error;
      },
    );
  }

  private tryEnter(): boolean {
    if (this.stateValue === 'closed') return true;
    if (this.stateValue === 'open') {
      if (this.now() - this.openedAt < this.options.openMs) return false;
      this.setState('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  private onSuccess(): void {
    this.failures = 0;
    if (this.stateValue !== 'closed') this.setState('closed');
  }

  private onFailure(): void {
    this.failures += 1;
    if (this.stateValue === 'half-open' || this.failures >= this.options.failureThreshold) {
      this.openedAt = this.now();
      if (this.stateValue !== 'open') this.setState('open');
    }
  }

  private setState(state: BreakerState): void {
    this.stateValue = state;
    this.options.onStateChange?.(state);
  }
}
