/**
 * bench/webhook-tenants: how long tenant B's webhook waits while tenant A has `--slow` (default
 * 60) deliveries to a server that accepts connections and never answers, against the same
 * delivery with no slow tenant, in one run (real SQLite store, real local HTTP servers). Prints
 * both delays and the ratio. Issue 17's goal: under 2 s.
 *
 *   npx tsx bench/webhook-tenants.ts [--slow 60] [--poll-ms 1000]
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { WebhookDispatcher } from '../src/api/webhooks/webhook-dispatcher.js';
import { sha256Hex } from '../src/core/hash.js';
import { SqliteAuthStore } from '../src/store/sqlite/sqlite-auth-store.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';

const { values } = parseArgs({ options: { slow: { type: 'string' }, 'poll-ms': { type: 'string' } } });
const slowCount = Number(values.slow ?? 60);
const pollMs = Number(values['poll-ms'] ?? 1_000);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

let n = 0;
async function measure(withSlow: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-webhooks-'));
  const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  const auth = SqliteAuthStore.open(path.join(dir, 'auth.db'));
  const hanging = createServer(() => {});
  let deliveredAt = 0;
  const fast = createServer((_req, res) => {
    deliveredAt = performance.now();
    res.statusCode = 204;
    res.end();
  });
  const [hangUrl, fastUrl] = [await listen(hanging), await listen(fast)];
  const task = (owner: string, callbackUrl: string) => {
    n += 1;
    return {
      requestId: `bench-${n}`,
      owner,
      target: { kind: 'model' as const, name: 'echo', version: '1.0.0' },
      input: { sha256: sha256Hex(`bench-${n}`), size: 1, mediaType: 'text/plain' },
      callbackUrl,
      cachedResult: { result: n },
    };
  };
  if (withSlow) await store.createTasks(Array.from({ length: slowCount }, () => task('tenant-a', hangUrl)));
  await store.createTasks([task('tenant-b', fastUrl)]);
  const dispatcher = new WebhookDispatcher({
    store,
    auth,
    logger: pino({ level: 'silent' }),
    allowPrivate: true,
    maxAttempts: 1,
  });
  const started = performance.now();
  dispatcher.start(pollMs);
  while (deliveredAt === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  hanging.closeAllConnections();
  hanging.close();
  await dispatcher.stop();
  fast.close();
  rmSync(dir, { recursive: true, force: true });
  return deliveredAt - started;
}

const alone = await measure(false);
const behind = await measure(true);
const out = process.stdout;
out.write(`tenant B's webhook delay (poll every ${pollMs} ms, first poll after one interval)\n`);
out.write(`  alone:                                   ${alone.toFixed(0)} ms\n`);
out.write(`  behind ${slowCount} unresponsive tenant-A callbacks: ${behind.toFixed(0)} ms\n`);
out.write(`  ratio: ${(behind / alone).toFixed(2)}x\n`);
