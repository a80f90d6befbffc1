/**
 * bench/json-bodies: the resident memory of `inferq serve` (no worker threads) while eight JSON
 * submissions of the largest size it takes arrive at once, side by side in one run:
 *
 * - `unbounded`: the limits inferq had before issue 17 (`server.bodyLimitBytes` 64 MiB, nothing
 *   counted in flight, inputs up to 64 MiB), with bodies just under 64 MiB;
 * - `default`: today's defaults (JSON bodies up to 4 MiB, 16 MiB held at once, 8 MiB a tenant),
 *   eight bodies from one tenant and eight from eight tenants.
 *
 * Prints RSS before, the peak while they run (sampled every 10 ms), RSS after, the growth as a
 * multiple of the body limit, and the answers' statuses.
 *
 *   npx tsx bench/json-bodies.ts [--concurrency 8]
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startServe } from '../test/fixtures/cli-process.js';

const { values } = parseArgs({ options: { concurrency: { type: 'string' } } });
const concurrency = Number(values.concurrency ?? 8);
const MiB = 1024 * 1024;

function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) * 1024;
}

/** A JSON submission to `echo` of exactly `size` bytes: one base64 `data` input. */
function jsonBody(size: number): Buffer {
  const head = '{"target":"echo","data":"';
  const tail = '"}';
  const base64 = Math.floor((size - head.length - tail.length) / 4) * 4;
  return Buffer.from(`${head}${'QUFB'.repeat(base64 / 4)}${tail}`);
}

interface Result {
  label: string;
  bodyBytes: number;
  bodyLimit: number;
  before: number;
  peak: number;
  after: number;
  statuses: Record<string, number>;
}

async function measure(label: string, config: string, bodyLimit: number, tenants: number): Promise<Result> {
  const server = await startServe(`workers:\n  count: 0\n${config}`);
  try {
    const pid = server.process.child.pid!;
    const keys: string[] = [];
    for (let i = 0; i < tenants; i++) {
      const res = await fetch(`${server.base}/v1/keys`, {
        method: 'POST',
        headers: { ...server.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: `bench-${i}` }),
      });
      keys.push(((await res.json()) as { key: string }).key);
    }
    const body = jsonBody(bodyLimit - 1024);
    // One small submission first, so that the code paths are loaded before "before".
    await fetch(`${server.base}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[0]}`, 'content-type': 'application/json' },
      body: jsonBody(4096),
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = rssOf(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 10);
    const statuses: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const res = await fetch(`${server.base}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys[i % tenants]}`, 'content-type': 'application/json' },
          body,
        }).catch(() => undefined);
        const status = res === undefined ? 'reset' : String(res.status);
        await res?.arrayBuffer();
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(pid));
    return { label, bodyBytes: body.length, bodyLimit, before, peak, after: rssOf(pid), statuses };
  } finally {
    await server.stop();
  }
}

const unboundedConfig = `server:\n  bodyLimitBytes: ${64 * MiB}\n  maxBufferedBytes: ${2 ** 40}\n  maxBufferedBytesPerTenant: ${2 ** 40}\nblobs:\n  maxBytes: ${64 * MiB}\n`;
const results = [
  await measure('unbounded (before issue 17), 1 tenant', unboundedConfig, 64 * MiB, 1),
  await measure('default, 1 tenant', '', 4 * MiB, 1),
  await measure(`default, ${concurrency} tenants`, '', 4 * MiB, concurrency),
];

const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
console.log(`${concurrency} concurrent JSON submissions of the largest size each configuration takes`);
for (const r of results) {
  const growth = r.peak - r.before;
  console.log(
    `${r.label.padEnd(40)} body ${mib(r.bodyBytes)}  RSS before ${mib(r.before)}, peak ${mib(r.peak)} (+${mib(growth)} = ${(growth / r.bodyLimit).toFixed(1)}x the body limit), after ${mib(r.after)}  statuses ${JSON.stringify(r.statuses)}`,
  );
}
const [baseline, ...rest] = results;
for (const r of rest) {
  console.log(
    `peak growth, ${r.label} vs ${baseline!.label}: ${((r.peak - r.before) / (baseline!.peak - baseline!.before)).toFixed(3)}`,
  );
}
