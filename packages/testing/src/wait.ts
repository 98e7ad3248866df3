// What the services' test helpers each wrote for themselves: waiting on the outcome a test expects
// (polled, bounded, and saying what it waited for when it gives up) instead of sleeping, and a
// fresh W3C traceparent for the events a test publishes.
import { randomBytes } from 'node:crypto';

/**
 * Resolves with the first value of `check` that is neither `undefined` nor `false`, polling every
 * 50 ms; rejects naming `what` (and the check's last error) after `timeoutMs`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error instanceof Error ? error : new Error(String(error));
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A random, sampled W3C traceparent (`00-<trace id>-<span id>-01`). */
export function randomTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
