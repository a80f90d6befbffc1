import type { Job } from 'bullmq';

/** An ack fetches the next job only for a queue this handle leased from this recently. */
const prefetchWhileLeasingMs = 2_000;
/** Prefetched jobs not leased out within this long (or half their lease) go back to the queue. */
const prefetchHoldMs = 1_000;

/** A job an ack fetched (BullMQ's fetchNext): active and locked, not yet leased out. */
export interface Prefetched {
  job: Job;
  token: string;
  fetchedAt: number;
  /** Its lock's length, from `fetchedAt`. */
  leaseMs: number;
}

/**
 * The jobs RedisBroker's acks fetched for the next lease, by queue. It sizes the prefetch from
 * the leases it sees (up to twice the last lease's `max`: a worker runs two lease loops), stops
 * prefetching for a queue nobody has leased from for a while, and hands a job that waited too
 * long (a second, or half its lock) to `release`, which puts it back in the queue.
 */
export class PrefetchBuffer {
  readonly #release: (p: Prefetched) => Promise<void>;
  readonly #jobs = new Map<string, Prefetched[]>();
  /** By lease kind (queue + lease length): the last lease's `max`, when, and fetches in flight. */
  readonly #leasing = new Map<string, { queue: string; max: number; at: number; fetching: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(release: (p: Prefetched) => Promise<void>) {
    this.#release = release;
  }

  /** A lease of up to `max` jobs of `queue` under the lease kind `kind`. */
  noteLease(kind: string, queue: string, max: number): void {
    const leasing = this.#leasing.get(kind);
    if (leasing === undefined) this.#leasing.set(kind, { queue, max, at: Date.now(), fetching: 0 });
    else Object.assign(leasing, { max, at: Date.now() });
  }

  /**
   * Whether an ack of a job leased as `kind` should fetch the next one; when true, the caller
   * must call `settle` once the ack is done.
   */
  reserve(kind: string): boolean {
    const leasing = this.#leasing.get(kind);
    if (leasing === undefined || Date.now() - leasing.at >= prefetchWhileLeasingMs) return false;
    if ((this.#jobs.get(leasing.queue)?.length ?? 0) + leasing.fetching >= 2 * leasing.max) return false;
    leasing.fetching++;
    return true;
  }

  /** Ends a reservation, keeping the job the ack fetched, if any. */
  settle(kind: string, fetched: Prefetched | undefined): void {
    const leasing = this.#leasing.get(kind);
    if (leasing !== undefined) leasing.fetching--;
    if (fetched === undefined || leasing === undefined) return;
    const list = this.#jobs.get(leasing.queue) ?? [];
    list.push(fetched);
    this.#jobs.set(leasing.queue, list);
    this.#schedule(fetched);
  }

  /** The prefetched jobs of `queue`, oldest first, left in the buffer. */
  peek(queue: string): readonly Prefetched[] {
    return this.#jobs.get(queue) ?? [];
  }

  /** Up to `max` prefetched jobs of `queue` that `which` accepts, oldest first, removed from the buffer. */
  take(queue: string, max: number, which: (p: Prefetched) => boolean = () => true): Prefetched[] {
    const list = this.#jobs.get(queue);
    if (list === undefined || max <= 0) return [];
    const taken: Prefetched[] = [];
    const kept = list.filter((p) => {
      if (taken.length >= max || !which(p)) return true;
      taken.push(p);
      return false;
    });
    this.#jobs.set(queue, kept);
    return taken;
  }

  /** Releases every buffered job (on close). */
  async releaseAll(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#releaseOlderThan(0);
  }

  #schedule(oldest: Prefetched): void {
    this.#timer ??= setTimeout(
      () => {
        this.#timer = undefined;
        this.#releaseOlderThan(prefetchHoldMs).catch(() => {});
      },
      Math.max(1, holdMs(oldest) - (Date.now() - oldest.fetchedAt)),
    ).unref();
  }

  async #releaseOlderThan(ms: number): Promise<void> {
    const now = Date.now();
    const due = (p: Prefetched) => now - p.fetchedAt >= Math.min(ms, holdMs(p));
    const released: Promise<void>[] = [];
    for (const [queue, list] of this.#jobs) {
      const keep = list.filter((p) => !due(p));
      for (const p of list.filter(due)) released.push(this.#release(p));
      this.#jobs.set(queue, keep);
      if (keep.length > 0 && ms > 0) this.#schedule(keep[0]!);
    }
    await Promise.all(released);
  }
}

/** How long a prefetched job may wait to be leased out: well within its lock. */
function holdMs(p: Prefetched): number {
  return Math.min(prefetchHoldMs, p.leaseMs / 2);
}
