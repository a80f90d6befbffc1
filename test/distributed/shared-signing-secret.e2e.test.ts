import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InferqProcess, startInferq } from '../fixtures/cli-process.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

/**
 * Two API hosts of one deployment, each with a data directory of its own (as on two machines),
 * on one PostgreSQL: a token one of them signs works on the other.
 */
describe.skipIf(testPostgresUrl === undefined)(
  testPostgresUrl === undefined ? postgresSkipReason : 'API hosts sharing PostgreSQL',
  () => {
    const hosts: InferqProcess[] = [];
    const dirs: string[] = [];
    let dropSchema: () => Promise<void>;
    let bases: string[] = [];
    let adminKey: string;

    beforeAll(async () => {
      const fresh = await freshSchema(testPostgresUrl!);
      dropSchema = fresh.drop;
      const store = new URL(testPostgresUrl!);
      store.searchParams.set('schema', fresh.schema);
      for (const _ of [0, 1]) {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-host-'));
        dirs.push(dir);
        const config = path.join(dir, 'inferq.yaml');
        // The queue in each host's own SQLite file: this test is about auth, not jobs.
        await writeFile(config, `store:\n  url: ${store}\nworkers:\n  count: 0\n`);
        const args = ['serve', '--config', config, '--port', '0', '--data-dir', path.join(dir, 'data')];
        hosts.push(await startInferq([...args, '--log-level', 'warn'], /Press Ctrl\+C/, 60_000));
      }
      bases = hosts.map((h) => /API\s+(http:\/\/\S+)\/v1/.exec(h.output())![1]!);
      adminKey = /^\s+(iq_\S+)$/m.exec(hosts[0]!.output())![1]!;
    }, 120_000);

    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.stop()));
      await dropSchema?.();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });

    it('says what it runs on, and never prints the database password', async () => {
      const output = hosts[0]!.output();
      expect(output).toContain('inferq serving (PostgreSQL + SQLite)');
      const { password } = new URL(testPostgresUrl!);
      if (password !== '') {
        expect(output).not.toContain(`:${password}@`);
        expect(output).toMatch(/task store {2}postgres(ql)?:\/\/[^\s]*:\*\*\*@/);
      }
    });

    it('a token signed by one API host is accepted by the other', async () => {
      // Only the first host printed a first admin key: the second found the keys in the store.
      expect(hosts[1]!.output()).not.toMatch(/First admin API key/);
      for (const [from, to] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const issued = await fetch(`${bases[from]}/v1/auth/token`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}` },
        });
        expect(issued.status).toBe(200);
        const { token } = (await issued.json()) as { token: string };
        const used = await fetch(`${bases[to]}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
        expect(used.status, `token from host ${from} on host ${to}`).toBe(200);
      }
    });
  },
);
