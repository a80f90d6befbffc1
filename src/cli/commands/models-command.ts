import type { Command } from 'commander';
import { type ClientFlags, clientFrom, withClientFlags } from './client-flags.js';
import { exitCodesHelp } from './exit-codes.js';
import { printJson, printTable } from './output.js';

/** `inferq models`: what the server can run. */
export function addModelsCommand(program: Command): void {
  withClientFlags(program.command('models'))
    .description('list the models and pipelines of a server, with queue depth and batching')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq models --url http://127.0.0.1:8080 --key iq_…\n  INFERQ_API_KEY=iq_… inferq models --json | jq '.items[].ref'\n${exitCodesHelp}\n`,
    )
    .action(async (flags: ClientFlags) => {
      const { items } = await clientFrom(flags).models();
      if (flags.json) return printJson({ items });
      printTable(
        ['MODEL', 'KIND', 'RUNTIME', 'AVAILABLE', 'QUEUED', 'RUNNING', 'BATCH', 'DESCRIPTION'],
        items.map((m) => [
          m.ref,
          m.kind,
          m.runtime,
          m.available ? 'yes' : `no: ${m.unavailableReason ?? 'unavailable'}`,
          m.queue?.waiting,
          m.queue?.leased,
          m.batching ? `${m.batching.maxBatchSize} / ${m.batching.maxDelayMs} ms` : undefined,
          (m.description ?? '').slice(0, 60),
        ]),
      );
    });
}
