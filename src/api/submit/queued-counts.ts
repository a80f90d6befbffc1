import type { Clock } from '../app-deps.js';

/** How long a tenant's counted number of queued tasks is trusted (plus what was added since). */
const freshMs = 1_000;

/**
 * The number of queued tasks per tenant, for the max-queued limit, without counting them on
 * every submission: a count reads one index entry per queued task, so a tenant with a backlog
 * of 100,000 would pay for it on every request. A count is kept for a second and raised by
 * what this process adds meanwhile (tasks that finish are not subtracted: the estimate only
 * errs high); it is taken again when stale, and whenever a submission would pass the limit, so
 * a refusal is always based on a fresh count.
 */
export class QueuedCounts {
  readonly #clock: Clock;
  readonly #byOwner = new Map<string, { queued: number; countedAt: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * The tenant's queued tasks if `adding` more would stay within `limit` (and then counts them
   * in), or the fresh count that `adding` would exceed the limit with.
   */
  async reserve(
    owner: string,
    adding: number,
    limit: number,
    count: () => Promise<number>,
  ): Promise<{ ok: boolean; queued: number }> {
    const now = this.#clock();
    let entry = this.#byOwner.get(owner);
    if (entry === undefined || now - entry.countedAt >= freshMs || entry.queued + adding > limit) {
      entry = { queued: await count(), countedAt: now };
      if (this.#byOwner.size >= 10_000) this.#byOwner.clear();
      this.#byOwner.set(owner, entry);
    }
    if (entry.queued + adding > limit) return { ok: false, queued: entry.queued };
    entry.queued += adding;
    return { ok: true, queued: entry.queued - adding };
  }
}
