import type { Command } from 'commander';
import type { InferqClient } from '../../client/index.js';
import { nearestRank as percentile } from '../../core/percentile.js';
import {
  type ClientFlags,
  clientFrom,
  jsonObject,
  positiveInteger,
  withClientFlags,
} from './client-flags.js';
import { exitCodes, exitCodesHelp } from './exit-codes.js';
import { formatMs, printJson } from './output.js';

interface BenchFlags extends ClientFlags {
  tasks: number;
  concurrency: number;
  model: string;
  params?: Record<string, unknown>;
}

/** What `inferq bench` measured (the `--json` output). */
export interface BenchReport {
  model: string;
  tasks: number;
  concurrency: number;
  succeeded: number;
  failed: number;
  seconds: number;
  tasksPerSecond: number;
  /** Submit → final state seen by the client (through the task's event stream), ms. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** created → finished as the server recorded it, ms, over the succeeded tasks. */
  serverLatencyMs: { p50: number | null; p99: number | null };
}

const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 10) / 10);

/**
 * A closed loop of `concurrency` clients, each submitting one task (a unique text, so the result
 * cache never answers), waiting for it over its event stream, then submitting the next, until
 * `tasks` are done.
 */
export async function runBench(client: InferqClient, flags: BenchFlags): Promise<BenchReport> {
  const latencies: number[] = [];
  const server: number[] = [];
  let next = 0;
  let failed = 0;
  const run = Math.random().toString(36).slice(2);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(flags.concurrency, flags.tasks) }, async () => {
      while (next < flags.tasks) {
        const n = next++;
        const t0 = performance.now();
        const { tasks } = await client.submit(flags.model, `inferq bench ${run} ${n}`, {
          ...(flags.params ? { params: flags.params } : {}),
        });
        const task = await client.wait(tasks[0]!.id);
        latencies.push(performance.now() - t0);
        if (task.state !== 'succeeded') failed++;
        else if (task.finishedAt !== null) server.push(task.finishedAt - task.createdAt);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  server.sort((a, b) => a - b);
  return {
    model: flags.model,
    tasks: flags.tasks,
    concurrency: flags.concurrency,
    succeeded: flags.tasks - failed,
    failed,
    seconds: Math.round(seconds * 1_000) / 1_000,
    tasksPerSecond: Math.round((flags.tasks / seconds) * 10) / 10,
    latencyMs: {
      p50: round(percentile(latencies, 50))!,
      p90: round(percentile(latencies, 90))!,
      p99: round(percentile(latencies, 99))!,
      max: round(latencies.at(-1) ?? 0)!,
    },
    serverLatencyMs: { p50: round(percentile(server, 50)), p99: round(percentile(server, 99)) },
  };
}

/** `inferq bench`: a quick throughput and latency measurement against a running server. */
export function addBenchCommand(program: Command): void {
  withClientFlags(program.command('bench'))
    .description(
      'measure throughput and latency of a running server: N tasks through a model (default the no-op echo), C at a time',
    )
    .option('-n, --tasks <n>', 'tasks to run', positiveInteger, 200)
    .option('-c, --concurrency <c>', 'tasks in flight at once (closed loop)', positiveInteger, 8)
    .option('-m, --model <model>', 'model to run, name or name@version (it must accept text)', 'echo')
    .option('--params <json>', 'task params, e.g. \'{"delayMs":5}\' for echo', jsonObject)
    .addHelpText(
      'after',
      `
Each task is submitted, then followed over its event stream until final; latency is that whole
round trip as the client sees it, and the server's own created → finished is shown beside it.

Examples:
  inferq bench --url http://127.0.0.1:8080 --key iq_…
  inferq bench --tasks 2000 --concurrency 64 --json
  inferq bench --model echo --params '{"delayMs":20}' --concurrency 32
${exitCodesHelp}
`,
    )
    .action(async (flags: BenchFlags) => {
      const report = await runBench(clientFrom(flags), flags);
      if (flags.json) printJson(report);
      else {
        const { latencyMs: l, serverLatencyMs: s } = report;
        console.log(
          `bench ${report.model}: ${report.tasks} tasks, ${report.concurrency} at a time: ${report.succeeded} succeeded, ${report.failed} failed in ${report.seconds.toFixed(2)} s
throughput  ${report.tasksPerSecond.toFixed(1)} tasks/s
latency     p50 ${formatMs(l.p50)}  p90 ${formatMs(l.p90)}  p99 ${formatMs(l.p99)}  max ${formatMs(l.max)}  (submit → final, seen by the client)
server      p50 ${formatMs(s.p50)}  p99 ${formatMs(s.p99)}  (created → finished)`,
        );
      }
      if (report.failed > 0) process.exitCode = exitCodes.taskFailed;
    });
}
