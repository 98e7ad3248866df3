// The retry schedule of the codebase: exponential from a base, capped, optionally jittered so that
// a burst of failures does not retry in lockstep. Consumers nak with it, relays and clients back
// off with it; one function so every retry in the system follows the same rule.

export interface BackoffOptions {
  /** The delay of attempt 1. */
  baseMs: number;
  /** No delay exceeds this (before jitter). */
  maxMs: number;
  /** A fraction in [0, 1]: the delay is moved by up to +-jitter of itself. Default 0 (none). */
  jitter?: number;
  /** The random draw in [0, 1), for jitter; injectable so a test can pin it. Default Math.random. */
  random?: () => number;
}

/** The delay before retrying after failed attempt `attempt` (1-based): base, 2 x base, 4 x base... capped. */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  // The exponent is clamped so that a huge attempt count cannot overflow to Infinity or NaN.
  const exponent = Math.max(0, Math.min(40, Math.floor(attempt) - 1 || 0));
  const capped = Math.min(o.maxMs, o.baseMs * 2 ** exponent);
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0));
  if (jitter === 0) return capped;
  const draw = (o.random ?? Math.random)();
  return Math.max(0, Math.round(capped * (1 + jitter * (2 * draw - 1))));
}
