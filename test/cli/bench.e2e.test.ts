import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InferqProcess, runInferq, startInferq } from '../fixtures/cli-process.js';

let dir: string;
let server: InferqProcess;
let url: string;
let key: string;

/** A real `inferq serve` (embedded, real worker threads running the echo model). */
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-bench-'));
  server = await startInferq(
    ['serve', '--port', '0', '--data-dir', dir, '--log-level', 'warn'],
    /Press Ctrl\+C/,
    60_000,
  );
  url = /API\s+(http:\/\/\S+)\/v1/.exec(server.output())![1]!;
  key = /^\s+(iq_\S+)$/m.exec(server.output())![1]!;
}, 90_000);
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('inferq bench (subprocess, against inferq serve)', () => {
  it('--json: runs N echo tasks C at a time and reports throughput and latency percentiles', async () => {
    const run = await runInferq([
      'bench',
      '--url',
      url,
      '--key',
      key,
      '--tasks',
      '24',
      '--concurrency',
      '4',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ model: 'echo', tasks: 24, concurrency: 4, succeeded: 24, failed: 0 });
    expect(report.tasksPerSecond).toBeGreaterThan(0);
    for (const p of ['p50', 'p90', 'p99', 'max']) expect(report.latencyMs[p]).toBeGreaterThanOrEqual(0);
    expect(report.latencyMs.p50).toBeLessThanOrEqual(report.latencyMs.p99);
    expect(report.serverLatencyMs.p50).toBeGreaterThanOrEqual(0);
    // Every task really ran: the server counts them.
    const stats = await fetch(`${url}/v1/stats/overview`, { headers: { authorization: `Bearer ${key}` } });
    const echo = (
      (await stats.json()) as { targets: Array<{ target: string; succeeded: number }> }
    ).targets.find((t) => t.target === 'echo@1.0.0');
    expect(echo?.succeeded).toBeGreaterThanOrEqual(24);
  }, 60_000);

  it('prints a human summary; an unknown model exits 4 with its code; --help has examples', async () => {
    const human = await runInferq([
      'bench',
      '--url',
      url,
      '--key',
      key,
      '--tasks',
      '3',
      '--concurrency',
      '2',
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^bench echo: 3 tasks, 2 at a time: 3 succeeded, 0 failed/);
    expect(human.stdout).toMatch(/throughput\s+[\d.]+ tasks\/s/);
    expect(human.stdout).toMatch(/latency\s+p50 .* p99 /);
    const unknown = await runInferq(['bench', '--url', url, '--key', key, '--tasks', '1', '--model', 'nope']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/INFERQ_MODEL_NOT_FOUND/);
    const help = await runInferq(['bench', '--help']);
    expect(help.stdout).toMatch(/Examples:\n\s+inferq bench --url/);
  }, 60_000);
});
