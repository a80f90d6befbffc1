export interface BackoffPolicy {
  /** Delay before the first retry. */
  baseMs: number;
  /** Upper bound of any single delay. */
  maxMs: number;
  /** 0 = exact exponential; 1 = "full jitter" (uniform in [0, delay]). */
  jitter: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000, jitter: 0.5 };

/**
 * Exponential backoff with jitter for retry number `attempt` (1 = first retry).
 * Jitter spreads retries of a batch that failed together, so they do not return as a herd.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = defaultBackoff,
  random = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(exp * (1 - jitter) + exp * jitter * random());
}
