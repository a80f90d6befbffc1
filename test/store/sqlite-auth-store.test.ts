import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteAuthStore } from '../../src/store/sqlite/sqlite-auth-store.js';
import { runAuthStoreContract } from '../contracts/auth-store.contract.js';

runAuthStoreContract('SqliteAuthStore', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-auth-store-'));
  const store = SqliteAuthStore.open(path.join(dir, 'auth.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

it('SqliteAuthStore keeps its file private (mode 0600), its keys and signing secret across reopen', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-auth-store-'));
  const file = path.join(dir, 'auth.db');
  const first = SqliteAuthStore.open(file);
  const { key } = await first.createApiKey({ tenant: 'acme' });
  expect(await first.signingSecret(() => 'kept')).toBe('kept');
  await first.close();
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  const second = SqliteAuthStore.open(file);
  expect((await second.verifyApiKey(key))?.tenant).toBe('acme');
  expect(await second.signingSecret(() => 'other')).toBe('kept');
  await second.close();
  await rm(dir, { recursive: true, force: true });
});
