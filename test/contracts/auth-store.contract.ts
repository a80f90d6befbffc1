import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthStore } from '../../src/store/auth-store.js';

/** Builds a fresh, empty auth store for one test, and disposes of it after. */
export type AuthStoreFactory = () => Promise<{ store: AuthStore; cleanup(): Promise<void> }>;

export interface AuthStoreContractOptions {
  /** Test title → why this adapter cannot pass it (shown in the skipped test's name). */
  skip?: Record<string, string>;
}

/** The behaviour every AuthStore adapter must have (hono's common.case style). */
export function runAuthStoreContract(
  name: string,
  factory: AuthStoreFactory,
  options: AuthStoreContractOptions = {},
): void {
  describe(`AuthStore contract: ${name}`, () => {
    let store: AuthStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup();
    });

    const test = (title: string, fn: () => Promise<void>) => {
      const reason = options.skip?.[title];
      if (reason === undefined) it(title, fn);
      else it.skip(`${title} (skipped: ${reason})`, fn);
    };

    test('a created key verifies to its record, and the key itself is never returned again', async () => {
      const created = await store.createApiKey({ tenant: 'acme', admin: true, name: 'ci' });
      expect(created.key).toMatch(/^iq_[0-9a-f]{16}_/);
      expect(created.record).toMatchObject({ tenant: 'acme', admin: true, name: 'ci', revokedAt: null });
      expect(await store.verifyApiKey(created.key)).toEqual(created.record);
      const listed = await store.listApiKeys();
      expect(listed).toEqual([created.record]);
      expect(JSON.stringify(listed)).not.toContain(created.key.slice(20));
    });

    test('creating a key creates its tenant with a webhook secret; ensureTenant is idempotent', async () => {
      await store.createApiKey({ tenant: 'acme' });
      const tenant = await store.getTenant('acme');
      expect(tenant?.webhookSecret.length).toBeGreaterThanOrEqual(32);
      expect(await store.ensureTenant('acme')).toEqual(tenant);
      expect((await store.listTenants()).map((t) => t.id)).toEqual(['acme']);
    });

    test('unknown, malformed and tampered keys do not verify', async () => {
      const { key } = await store.createApiKey({ tenant: 'acme' });
      expect(await store.verifyApiKey('')).toBeUndefined();
      expect(await store.verifyApiKey('not-a-key')).toBeUndefined();
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      expect(await store.verifyApiKey(`${key.slice(0, -1)}${last}`)).toBeUndefined();
      const other = `iq_${'0'.repeat(16)}_${key.slice(-43)}`;
      expect(await store.verifyApiKey(other)).toBeUndefined();
    });

    test('a revoked key stops verifying at once; revoking twice or an unknown id is false', async () => {
      const { key, record } = await store.createApiKey({ tenant: 'acme' });
      expect(await store.revokeApiKey(record.id, 1_000)).toBe(true);
      expect(await store.verifyApiKey(key)).toBeUndefined();
      expect((await store.getApiKey(record.id))?.revokedAt).toBe(1_000);
      expect(await store.revokeApiKey(record.id)).toBe(false);
      expect(await store.revokeApiKey('ffffffffffffffff')).toBe(false);
    });

    test('listApiKeys filters by tenant, newest first', async () => {
      const a1 = await store.createApiKey({ tenant: 'a', at: 1 });
      const b1 = await store.createApiKey({ tenant: 'b', at: 2 });
      const a2 = await store.createApiKey({ tenant: 'a', at: 3 });
      expect((await store.listApiKeys({ tenant: 'a' })).map((k) => k.id)).toEqual([
        a2.record.id,
        a1.record.id,
      ]);
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual([
        a2.record.id,
        b1.record.id,
        a1.record.id,
      ]);
    });

    test('tenant limits can be set and reset to the default (null)', async () => {
      await store.ensureTenant('acme');
      expect(await store.setTenantLimits('acme', { rateLimitPerMinute: 10 })).toMatchObject({
        rateLimitPerMinute: 10,
        maxQueuedTasks: null,
      });
      expect(
        await store.setTenantLimits('acme', { rateLimitPerMinute: null, maxQueuedTasks: 5 }),
      ).toMatchObject({ rateLimitPerMinute: null, maxQueuedTasks: 5 });
      expect(await store.setTenantLimits('nobody', { maxQueuedTasks: 1 })).toBeUndefined();
    });

    test("a tenant's weight is 1 until set, keeps its other limits, and resets to 1 with null", async () => {
      expect((await store.ensureTenant('acme')).weight).toBe(1);
      await store.setTenantLimits('acme', { maxQueuedTasks: 5 });
      expect(await store.setTenantLimits('acme', { weight: 3 })).toMatchObject({
        weight: 3,
        maxQueuedTasks: 5,
      });
      expect((await store.getTenant('acme'))?.weight).toBe(3);
      expect((await store.listTenants()).find((t) => t.id === 'acme')?.weight).toBe(3);
      expect(await store.setTenantLimits('acme', { weight: null })).toMatchObject({
        weight: 1,
        maxQueuedTasks: 5,
      });
    });

    test('a tenant storage quota (maxStoredBytes) can be set beyond 2^31 and reset', async () => {
      await store.ensureTenant('acme');
      expect((await store.getTenant('acme'))?.maxStoredBytes).toBeNull();
      const fiveGiB = 5 * 1024 ** 3;
      expect(await store.setTenantLimits('acme', { maxStoredBytes: fiveGiB })).toMatchObject({
        maxStoredBytes: fiveGiB,
        maxQueuedTasks: null,
      });
      expect((await store.getTenant('acme'))?.maxStoredBytes).toBe(fiveGiB);
      expect(await store.setTenantLimits('acme', { maxQueuedTasks: 3 })).toMatchObject({
        maxStoredBytes: fiveGiB,
      });
      expect(await store.setTenantLimits('acme', { maxStoredBytes: null })).toMatchObject({
        maxStoredBytes: null,
        maxQueuedTasks: 3,
      });
    });

    test("rotating a tenant's webhook secret replaces it at once; an unknown tenant is undefined", async () => {
      const before = await store.ensureTenant('acme');
      const rotated = await store.rotateWebhookSecret('acme');
      expect(rotated?.webhookSecret).not.toBe(before.webhookSecret);
      expect(rotated?.webhookSecret.length).toBeGreaterThanOrEqual(32);
      expect((await store.getTenant('acme'))?.webhookSecret).toBe(rotated?.webhookSecret);
      expect(await store.rotateWebhookSecret('nobody')).toBeUndefined();
    });

    test('the signing secret is created once, then read back whatever create would give', async () => {
      expect(await store.signingSecret(() => 'secret-one')).toBe('secret-one');
      expect(await store.signingSecret(() => 'secret-two')).toBe('secret-one');
    });

    test('tenant ids with path or odd characters are refused', async () => {
      await expect(store.ensureTenant('../etc')).rejects.toThrow();
      await expect(store.createApiKey({ tenant: 'a b' })).rejects.toThrow();
    });
  });
}
