import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyCache, keyCacheTtlMs } from '../../src/api/auth/key-cache.js';
import { SqliteAuthStore } from '../../src/store/sqlite/sqlite-auth-store.js';

describe('ApiKeyCache', () => {
  let auth: SqliteAuthStore;
  let now: number;
  let lookups: number;
  let cache: ApiKeyCache;

  beforeEach(() => {
    auth = SqliteAuthStore.open(':memory:');
    now = 1_000_000;
    lookups = 0;
    // Counts the lookups that reach the (real) store.
    const verify = auth.verifyApiKey.bind(auth);
    auth.verifyApiKey = (key) => {
      lookups += 1;
      return verify(key);
    };
    cache = new ApiKeyCache(auth, () => now);
  });
  afterEach(async () => auth.close());

  it('answers repeated checks of a key from memory until the entry expires', async () => {
    const { key, record } = await auth.createApiKey({ tenant: 'acme' });
    expect(await cache.verify(key)).toEqual(record);
    expect(await cache.verify(key)).toEqual(record);
    expect(lookups).toBe(1);
    now += keyCacheTtlMs;
    expect(await cache.verify(key)).toEqual(record);
    expect(lookups).toBe(2);
  });

  it('never accepts a wrong secret for a cached key id', async () => {
    const { key } = await auth.createApiKey({ tenant: 'acme' });
    await cache.verify(key);
    const forged = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    expect(await cache.verify(forged)).toBeUndefined();
  });

  it('a key revoked elsewhere stops working within the TTL; forget() ends it at once', async () => {
    const a = await auth.createApiKey({ tenant: 'acme' });
    const b = await auth.createApiKey({ tenant: 'acme' });
    await cache.verify(a.key);
    await cache.verify(b.key);
    await auth.revokeApiKey(a.record.id);
    await auth.revokeApiKey(b.record.id);
    cache.forget(b.record.id);
    expect(await cache.verify(b.key)).toBeUndefined();
    expect(await cache.verify(a.key)).toBeDefined(); // cached: revoked on "another host"
    now += keyCacheTtlMs;
    expect(await cache.verify(a.key)).toBeUndefined();
  });
});
