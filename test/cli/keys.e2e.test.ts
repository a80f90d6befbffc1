import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuthStore } from '../../src/store/postgres/postgres-auth-store.js';
import { runInferq } from '../fixtures/cli-process.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** create → list → revoke → list through the CLI with `where` naming the deployment. */
async function roundTrip(where: string[]): Promise<string> {
  const created = await runInferq([
    'keys',
    'create',
    '--tenant',
    'acme',
    '--admin',
    '--name',
    'ci',
    ...where,
  ]);
  expect(created.stderr).toMatch(/^key [0-9a-f]+ for tenant acme \(admin\); it is not shown again/);
  expect(created.code).toBe(0);
  const key = created.stdout.trim();
  expect(key).toMatch(/^iq_/);
  const listed = await runInferq(['keys', 'list', '--json', ...where]);
  expect(listed.code).toBe(0);
  const items = JSON.parse(listed.stdout).items as Array<{
    id: string;
    tenant: string;
    revokedAt: number | null;
  }>;
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({ tenant: 'acme', admin: true, name: 'ci', revokedAt: null });
  expect(listed.stdout).not.toContain(key);
  const id = items[0]!.id;
  const revoked = await runInferq(['keys', 'revoke', id, ...where]);
  expect([revoked.code, revoked.stdout.trim()]).toEqual([0, `revoked ${id}`]);
  const again = await runInferq(['keys', 'revoke', id, ...where]);
  expect(again.code).toBe(4);
  expect(again.stderr).toContain('INFERQ_API_KEY_NOT_FOUND');
  const table = await runInferq(['keys', 'list', ...where]);
  expect(table.stdout).toMatch(new RegExp(`^${id}\\s+acme\\s+admin\\s+revoked `));
  return id;
}

it('keys --help shows examples, --store among the flags', async () => {
  const { code, stdout } = await runInferq(['keys', 'create', '--help']);
  expect(code).toBe(0);
  expect(stdout).toMatch(/--store <url>/);
  expect(stdout).toMatch(/Examples:\n\s+inferq keys create --tenant acme/);
});

it('create, list and revoke in the embedded auth store (--data-dir)', async () => {
  await roundTrip(['--data-dir', dir]);
});

if (!testPostgresUrl) console.warn(postgresSkipReason);
describe.skipIf(!testPostgresUrl)('on PostgreSQL', () => {
  it('--store postgres://…?schema= manages the keys every API host of that deployment reads', async () => {
    const { schema, drop } = await freshSchema(testPostgresUrl!);
    const url = `${testPostgresUrl}${testPostgresUrl!.includes('?') ? '&' : '?'}schema=${schema}`;
    try {
      const id = await roundTrip(['--store', url, '--data-dir', dir]);
      const auth = await PostgresAuthStore.open(url);
      try {
        const keys = await auth.listApiKeys({ tenant: 'acme' });
        expect(keys.map((k) => [k.id, k.revokedAt !== null])).toEqual([[id, true]]);
      } finally {
        await auth.close();
      }
    } finally {
      await drop();
    }
  }, 60_000);
});
