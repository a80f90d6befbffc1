import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadOrCreateJwtSecret } from '../../src/cli/auth-bootstrap.js';
import { loadConfig } from '../../src/config/load-config.js';
import { SqliteAuthStore } from '../../src/store/sqlite/sqlite-auth-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function deployment(): Promise<{ config: ReturnType<typeof loadConfig>; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-auth-bootstrap-'));
  dirs.push(dir);
  return { dir, config: loadConfig({ cwd: dir, env: {}, overrides: { dataDir: dir } }) };
}

it('generates the signing secret once and keeps it in the auth store', async () => {
  const { dir, config } = await deployment();
  const auth = SqliteAuthStore.open(path.join(dir, 'auth.db'));
  const secret = await loadOrCreateJwtSecret(config, auth);
  expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
  expect(await loadOrCreateJwtSecret(config, auth)).toBe(secret);
  await auth.close();
});

it("seeds it from an older inferq's jwt-secret file, so the tokens it issued stay valid", async () => {
  const { dir, config } = await deployment();
  await writeFile(path.join(dir, 'jwt-secret'), 'secret-from-an-older-version\n');
  const auth = SqliteAuthStore.open(path.join(dir, 'auth.db'));
  expect(await loadOrCreateJwtSecret(config, auth)).toBe('secret-from-an-older-version');
  await auth.close();
});
