/**
 * A small map whose entries expire: for rows read on every request and changed rarely (tenant
 * limits). The owner deletes an entry when it changes the row itself; a change made by another
 * process is seen once the entry expires.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries = 10_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  /** The cached value, or what `load` gives (then cached). */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expiresAt > now) return hit.value;
    const value = await load();
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(key, { value, expiresAt: now + this.#ttlMs });
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
