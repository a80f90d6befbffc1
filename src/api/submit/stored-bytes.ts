import type { TaskStore } from '../../store/task-store.js';
import type { Clock } from '../app-deps.js';

/** How long a tenant's counted stored bytes are trusted (plus what this process added since). */
const freshMs = 10_000;

/**
 * The input bytes each tenant's tasks keep stored, for the storage quota (`api.maxStoredBytes`,
 * or the tenant's own `maxStoredBytes`), without counting them on every submission: the count
 * reads every task of the tenant. A count is kept for 10 s and raised by what this process's
 * submissions add meanwhile (deleted tasks are not subtracted until the next count: the estimate
 * errs high, never low); it is taken again when stale, and whenever a submission would pass the
 * quota, so a refusal is always based on a fresh count. Submissions in flight on other API hosts
 * are not seen: together they may pass the quota by what they are storing at that moment.
 */
export class StoredBytes {
  readonly #store: Pick<TaskStore, 'storedInputBytes'>;
  readonly #clock: Clock;
  readonly #byOwner = new Map<string, { bytes: number; countedAt: number }>();

  constructor(store: Pick<TaskStore, 'storedInputBytes'>, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** The tenant's stored bytes; counted afresh when stale, or when `fresh` is asked for. */
  async used(owner: string, fresh = false): Promise<number> {
    const now = this.#clock();
    let entry = this.#byOwner.get(owner);
    if (fresh || entry === undefined || now - entry.countedAt >= freshMs) {
      entry = { bytes: await this.#store.storedInputBytes(owner), countedAt: now };
      if (this.#byOwner.size >= 10_000) this.#byOwner.clear();
      this.#byOwner.set(owner, entry);
    }
    return entry.bytes;
  }

  /** Counts in the inputs of a submission this process committed. */
  add(owner: string, bytes: number): void {
    const entry = this.#byOwner.get(owner);
    if (entry !== undefined) entry.bytes += bytes;
  }
}
