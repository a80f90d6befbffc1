import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';

/**
 * Schemathesis (PyPI, pinned in scripts/install-schemathesis.sh) fuzzes a real `inferq serve`
 * from its own /openapi.json, once with an admin key and once with a tenant's key: no answer
 * may be a 5xx, contradict the spec, or carry an error body outside the documented
 * `{ error: { code, message } }` with a code of docs/errors.md (the `error_body_shape` check of
 * schemathesis-hooks.py). Bounded (`-n`, a few thousand cases in all) so the suite stays short.
 */
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, '.cache/schemathesis-venv/bin/schemathesis');
const install = existsSync(bin)
  ? { status: 0, stderr: '' }
  : spawnSync('bash', [path.join(root, 'scripts/install-schemathesis.sh')], { encoding: 'utf8' });
const missing =
  install.status === 0 && existsSync(bin)
    ? undefined
    : `schemathesis fuzzing SKIPPED: scripts/install-schemathesis.sh failed: ${String(install.stderr).trim().split('\n').pop()}`;
if (missing) console.warn(`!! ${missing}`);

/** Cases per operation and phase; the coverage phase adds its own fixed set (about 1,000). */
const maxExamples = Number(process.env.INFERQ_SCHEMATHESIS_EXAMPLES ?? 15);

let server: ServeProcess;
let tenantKey: string;
let dir: string;

describe.skipIf(missing !== undefined)(missing ?? 'schemathesis against inferq serve', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-schemathesis-'));
    // Fuzzing sends thousands of requests a minute; long polls and synchronous predicts are
    // capped short so that each case answers quickly.
    server = await startServe('api:\n  rateLimitPerMinute: 1000000\n  maxWait: 1s\n  predictTimeout: 2s\n');
    const created = await fetch(`${server.base}/v1/keys`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'fuzz', name: 'schemathesis' }),
    });
    expect(created.status).toBe(201);
    tenantKey = ((await created.json()) as { key: string }).key;
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const who of ['admin', 'tenant'] as const) {
    it(`finds no 5xx, no answer against the spec and no error outside the documented shape (${who} key)`, {
      timeout: 240_000,
    }, async () => {
      const key = who === 'admin' ? server.auth.authorization! : `Bearer ${tenantKey}`;
      const counts = path.join(dir, `${who}-counts.json`);
      const run = await schemathesis(
        [
          'run',
          `${server.base}/openapi.json`,
          '--header',
          `Authorization: ${key}`,
          '--checks',
          'not_a_server_error,response_schema_conformance,error_body_shape',
          '--max-examples',
          String(maxExamples),
          '--workers',
          '2',
          '--request-timeout',
          '10',
          // Event streams stay open until the client leaves: every case would end in a timeout.
          '--exclude-path-regex',
          '/events$',
          '--generation-database',
          'none',
          '--no-color',
        ],
        { SCHEMATHESIS_HOOKS: path.join(root, 'test/api/schemathesis-hooks.py'), INFERQ_ST_COUNTS: counts },
      );
      const byStatus = existsSync(counts)
        ? (JSON.parse(await readFile(counts, 'utf8')) as Record<string, number>)
        : {};
      const sent = Object.values(byStatus).reduce((a, b) => a + b, 0);
      const serverErrors = Object.entries(byStatus)
        .filter(([status]) => Number(status) >= 500)
        .reduce((a, [, n]) => a + n, 0);
      const summary = /(\d+) generated[^\n]*/.exec(run.output)?.[0] ?? '(no summary)';
      // The seed reproduces the run: schemathesis run … --seed <it>.
      const seed = /Seed: (\d+)/.exec(run.output)?.[1] ?? '?';
      console.log(
        `schemathesis (${who} key, seed ${seed}): ${summary}; ${sent} requests, ${serverErrors} 5xx; by status ${JSON.stringify(byStatus)}`,
      );
      expect(run.code, run.output.slice(-8_000)).toBe(0);
      expect(serverErrors).toBe(0);
      expect(sent).toBeGreaterThan(500);
    });
  }
});

function schemathesis(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}
