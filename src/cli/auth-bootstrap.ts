import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
 * The token signing secret, kept in the auth store (SQLite `auth.db`, mode 0600, or PostgreSQL),
 * so every API host of a deployment signs and verifies with the same one and tokens survive
 * restarts. Generated on first start; a `<dataDir>/jwt-secret` file left by an older inferq seeds
 * it, so the tokens that version issued stay valid.
 */
export async function loadOrCreateJwtSecret(config: Config, auth: AuthStore): Promise<string> {
  const legacy = path.join(config.dataDir, 'jwt-secret');
  return auth.signingSecret(() =>
    existsSync(legacy) ? readFileSync(legacy, 'utf8').trim() : randomBytes(48).toString('base64url'),
  );
}

/** On a store with no keys at all, creates the first admin key (tenant `default`) and returns it. */
export async function createFirstAdminKey(auth: AuthStore): Promise<string | undefined> {
  if ((await auth.listApiKeys()).length > 0) return undefined;
  return (await auth.createApiKey({ tenant: 'default', admin: true, name: 'first admin key' })).key;
}
