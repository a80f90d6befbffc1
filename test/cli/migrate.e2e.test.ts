import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInferq } from '../fixtures/cli-process.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-migrate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('--help explains the command with an example', async () => {
  const { code, stdout } = await runInferq(['migrate', '--help']);
  expect(code).toBe(0);
  expect(stdout).toMatch(/apply the database migrations/);
  expect(stdout).toMatch(/Examples:\n\s+inferq migrate/);
});

it('creates and migrates the embedded SQLite databases, prints their versions, is idempotent', async () => {
  for (let run = 0; run < 2; run++) {
    const { code, stdout, stderr } = await runInferq(['migrate', '--data-dir', dir, '--log-level', 'warn']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`sqlite:${path.join(dir, 'inferq.db')}`);
    expect(stdout).toMatch(/task store\s+version [1-9]/);
    expect(stdout).toMatch(/worker registry\s+version [1-9]/);
    expect(stdout).toMatch(/queue\s+version [1-9]/);
    expect(stdout).toMatch(/auth store\s+version [1-9]/);
  }
});

if (!testPostgresUrl) console.warn(postgresSkipReason);
describe.skipIf(!testPostgresUrl)('on PostgreSQL', () => {
  it('migrates every component in the ?schema= schema and hides the password', async () => {
    const { schema, drop } = await freshSchema(testPostgresUrl!);
    try {
      const url = new URL(testPostgresUrl!);
      url.searchParams.set('schema', schema);
      const { code, stdout } = await runInferq([
        'migrate',
        '--data-dir',
        dir,
        '--store',
        url.toString(),
        '--blobs',
        url.toString(),
        '--broker',
        url.toString(),
        '--log-level',
        'warn',
      ]);
      expect(code).toBe(0);
      expect(stdout).toContain(`schema=${schema}`);
      if (url.password) expect(stdout).not.toContain(`:${url.password}@`);
      for (const component of ['tasks', 'auth', 'workers', 'blobs', 'queue'])
        expect(stdout).toMatch(new RegExp(`${component}\\s+version [1-9]`));
    } finally {
      await drop();
    }
  });
});
