import type { Command } from 'commander';
import { type ClientFlags, clientFrom, positiveInteger, withClientFlags } from './client-flags.js';
import { exitCodesHelp } from './exit-codes.js';
import { formatMs, printJson, printTable } from './output.js';

/** `inferq stats`: counts by state, throughput and latency per model. */
export function addStatsCommand(program: Command): void {
  withClientFlags(program.command('stats'))
    .description('task counts by model and state, throughput and latency percentiles, queue depths')
    .option('--window <seconds>', 'latency and throughput over the last N seconds', positiveInteger, 300)
    .option('--all', 'every tenant (admin key)')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq stats\n  inferq stats --window 60 --all --json\n${exitCodesHelp}\n`,
    )
    .action(async (flags: ClientFlags & { window: number; all?: boolean }) => {
      const stats = await clientFrom(flags).stats({ windowSeconds: flags.window, all: flags.all === true });
      if (flags.json) return printJson(stats);
      const targets = new Set([...stats.byTarget.map((t) => t.target), ...Object.keys(stats.queues)]);
      const rows = [...targets].sort().map((target) => {
        const counts = stats.byTarget.find((t) => t.target === target)?.counts ?? {};
        const recent = stats.recent.find((r) => r.target === target);
        const queue = stats.queues[target];
        return [
          target,
          counts.queued ?? 0,
          counts.running ?? 0,
          counts.succeeded ?? 0,
          counts.failed ?? 0,
          counts.cancelled ?? 0,
          queue ? `${queue.waiting}+${queue.delayed}` : '-',
          recent ? recent.perSecond.toFixed(2) : '0.00',
          recent?.hitRate == null ? '-' : `${(recent.hitRate * 100).toFixed(0)}%`,
          formatMs(recent?.p50Ms),
          formatMs(recent?.p90Ms),
          formatMs(recent?.p99Ms),
        ];
      });
      console.log(`scope ${stats.scope}, last ${stats.windowSeconds} s`);
      printTable(
        [
          'TARGET',
          'QUEUED',
          'RUNNING',
          'SUCCEEDED',
          'FAILED',
          'CANCELLED',
          'QUEUE',
          'PER S',
          'CACHE HITS',
          'P50',
          'P90',
          'P99',
        ],
        rows,
      );
    });
}
