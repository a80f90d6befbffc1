import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { AuthStore } from '../store/auth-store.js';
import { PostgresAuthStore } from '../store/postgres/postgres-auth-store.js';
import { SqliteAuthStore } from '../store/sqlite/sqlite-auth-store.js';

/**
 * The auth store of a deployment: beside the tasks in PostgreSQL when the task store is there
 * (every API host must see the same keys), else `<dataDir>/auth.db`.
 */
export async function openAuthStore(config: Config): Promise<AuthStore> {
  if (/^postgres(ql)?:\/\//.test(config.store.url)) return PostgresAuthStore.open(config.store.url);
  return SqliteAuthStore.open(path.join(config.dataDir, 'auth.db'));
}

/**
 * The token signing secret: generated on first start and kept in `<dataDir>/jwt-secret`
 * (mode 0600), so tokens survive restarts. Hosts sharing a deployment must share this file.
 */
export function loadOrCreateJwtSecret(config: Config): string {
  const file = path.join(config.dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  // Written aside then linked into place: atomic, and the link fails if another host sharing the
  // data dir got there first (then theirs is used), so no one ever reads a half-written file.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temp, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(temp, 0o600);
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw err;
  } finally {
    unlinkSync(temp);
  }
  return secret;
}

/** On a store with no keys at all, creates the first admin key (tenant `default`) and returns it. */
export async function createFirstAdminKey(auth: AuthStore): Promise<string | undefined> {
  if ((await auth.listApiKeys()).length > 0) return undefined;
  return (await auth.createApiKey({ tenant: 'default', admin: true, name: 'first admin key' })).key;
}
