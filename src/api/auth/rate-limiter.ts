import type { Clock } from '../app-deps.js';

/**
 * Token bucket per key: `perMinute` tokens, refilled continuously, with a full minute's burst.
 * In memory and per process: with several API hosts each enforces its own share, which keeps
 * the hot path free of a shared counter round trip (a distributed limiter can replace it).
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number; perMinute: number }>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(key: string, perMinute: number): number {
    const now = this.#clock();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined || bucket.perMinute !== perMinute) {
      bucket = { tokens: perMinute, at: now, perMinute };
      this.#buckets.set(key, bucket);
    }
    const perMs = perMinute / 60_000;
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / perMs);
  }
}
