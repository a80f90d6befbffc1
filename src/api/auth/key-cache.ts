import { createHash } from 'node:crypto';
import type { ApiKeyRecord, AuthStore } from '../../store/auth-store.js';

interface Entry {
  record: ApiKeyRecord | undefined;
  expiresAt: number;
}

/** How long a verified key (or an unknown one) is trusted without asking the auth store again. */
export const keyCacheTtlMs = 2_000;

/**
 * Remembers auth-store answers for a short while: every request authenticates, and with a
 * PostgreSQL auth store each lookup is a network round trip. Entries live {@link keyCacheTtlMs};
 * a key revoked through this process's API is forgotten at once, one revoked on another host
 * (or with `inferq keys revoke`) stops working within that time.
 *
 * Presented API keys are cached under their SHA-256, never in clear.
 */
export class ApiKeyCache {
  readonly #auth: AuthStore;
  readonly #now: () => number;
  readonly #byKeyHash = new Map<string, Entry>();
  readonly #byId = new Map<string, Entry>();

  constructor(auth: AuthStore, now: () => number = Date.now) {
    this.#auth = auth;
    this.#now = now;
  }

  /** The record of a valid, unrevoked API key, or undefined. */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const hash = createHash('sha256').update(key).digest('hex');
    return this.#cached(this.#byKeyHash, hash, () => this.#auth.verifyApiKey(key));
  }

  /** The record with this key id (revoked ones included), or undefined. */
  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#cached(this.#byId, id, () => this.#auth.getApiKey(id));
  }

  /** Drops everything known about key `id` (after a revoke). */
  forget(id: string): void {
    this.#byId.delete(id);
    for (const [hash, entry] of this.#byKeyHash) {
      if (entry.record?.id === id) this.#byKeyHash.delete(hash);
    }
  }

  async #cached(
    map: Map<string, Entry>,
    key: string,
    load: () => Promise<ApiKeyRecord | undefined>,
  ): Promise<ApiKeyRecord | undefined> {
    const now = this.#now();
    const hit = map.get(key);
    if (hit !== undefined && hit.expiresAt > now) return hit.record;
    const record = await load();
    if (map.size >= 10_000) this.#sweep(map, now);
    map.set(key, { record, expiresAt: now + keyCacheTtlMs });
    return record;
  }

  /** Drops expired entries; if that is not enough (a flood of distinct bad keys), all of them. */
  #sweep(map: Map<string, Entry>, now: number): void {
    for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    if (map.size >= 10_000) map.clear();
  }
}
