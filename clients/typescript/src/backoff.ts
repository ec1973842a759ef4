/** Jittered exponential backoff for reconnects. */
export interface ReconnectOptions {
  /** The first delay before a reconnect, in ms (default 250). */
  initialDelayMs?: number;
  /** The largest delay, in ms (default 10 000). */
  maxDelayMs?: number;
  /** A connection open this long (ms) resets the backoff (default 5 000). */
  stableAfterMs?: number;
  /** Attempts in a row before giving up (default: unbounded). */
  maxAttempts?: number;
}

/** The resolved reconnect options. */
export interface Backoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly stableAfterMs: number;
  readonly maxAttempts: number;
}

export function backoff(options: ReconnectOptions = {}): Backoff {
  const initialDelayMs = Math.max(0, options.initialDelayMs ?? 250);
  return {
    initialDelayMs,
    maxDelayMs: Math.max(initialDelayMs, options.maxDelayMs ?? 10_000),
    stableAfterMs: Math.max(0, options.stableAfterMs ?? 5_000),
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * The delay before reconnect attempt `attempt` (0-based): `initial * 2^attempt`, capped at the
 * maximum, then a random point in its upper half ("equal jitter") so that clients cut at the
 * same moment do not all come back at the same moment, while none retries at once.
 */
export function delayMs(policy: Backoff, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Close codes after which reconnecting cannot help: the server ended the session (1000) or
 * refused what this client sends (protocol error, unsupported or invalid data, policy, too big,
 * missing extension).
 */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010]);
