import type { Command } from 'commander';
import type { Task, TaskFilter } from '../../client/index.js';
import {
  type ClientFlags,
  clientFrom,
  pointInTime,
  positiveInteger,
  withClientFlags,
} from './client-flags.js';
import { exitCodes, exitCodesHelp } from './exit-codes.js';
import { formatMs, formatTime, printJson, printTable } from './output.js';

const states = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

function taskRow(t: Task): unknown[] {
  return [
    t.id,
    t.input.name ?? '',
    t.target,
    t.state,
    `${t.attempts}/${t.maxAttempts}`,
    formatTime(t.createdAt),
    formatMs(t.finishedAt === null ? null : t.finishedAt - t.createdAt),
    t.error ? `${t.error.code}: ${t.error.message}`.slice(0, 60) : '',
  ];
}

const taskHeaders = ['ID', 'INPUT', 'TARGET', 'STATE', 'TRIES', 'CREATED', 'TOOK', 'ERROR'];

/** `inferq tasks ls|get|cancel|result`. */
export function addTasksCommand(program: Command): void {
  const tasks = program
    .command('tasks')
    .description('list, inspect, cancel tasks and read their results')
    .addHelpText('after', `\nExamples:\n  inferq tasks ls --state failed\n  inferq tasks result 0190…\n`);

  withClientFlags(tasks.command('ls'))
    .description('list your tasks, newest first')
    .option('--state <state...>', `only these states (${states.join(', ')})`)
    .option('--model <target>', 'only this model or pipeline (name or name@version)')
    .option('--request <id>', 'only the tasks of one submission')
    .option('--input <sha256>', 'only the tasks of this input (its SHA-256)')
    .option(
      '--since <time>',
      'created at or after: a duration ago (30m, 2h, 7d) or an ISO 8601 date-time',
      pointInTime,
    )
    .option('--until <time>', 'created before: a duration ago or an ISO 8601 date-time', pointInTime)
    .option('-n, --limit <n>', 'at most N tasks', positiveInteger, 20)
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tasks ls\n  inferq tasks ls --state failed cancelled --model ocr-det -n 100\n  inferq tasks ls --state failed --since 2h\n  inferq tasks ls --json | jq -r '.[].id'\n${exitCodesHelp}\n`,
    )
    .action(
      async (
        flags: ClientFlags & {
          state?: string[];
          model?: string;
          request?: string;
          input?: string;
          since?: number | string;
          until?: number | string;
          limit: number;
        },
      ) => {
        const filter: TaskFilter = { limit: Math.min(flags.limit, 1_000) };
        if (flags.state) filter.state = flags.state as TaskFilter['state'];
        if (flags.model) filter.target = flags.model;
        if (flags.request) filter.requestId = flags.request;
        if (flags.input) filter.inputSha256 = flags.input;
        if (flags.since !== undefined) filter.createdFrom = flags.since;
        if (flags.until !== undefined) filter.createdTo = flags.until;
        const found: Task[] = [];
        for await (const task of clientFrom(flags).list(filter)) {
          found.push(task);
          if (found.length >= flags.limit) break;
        }
        if (flags.json) return printJson(found);
        printTable(taskHeaders, found.map(taskRow));
      },
    );

  withClientFlags(tasks.command('get'))
    .description('one task: state, attempts, error, timeline, result')
    .argument('<id>', 'task id')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tasks get 0190…\n  inferq tasks get 0190… --json\n${exitCodesHelp}\n`,
    )
    .action(async (id: string, flags: ClientFlags) => {
      const task = await clientFrom(flags).get(id);
      if (flags.json) return printJson(task);
      printTable(taskHeaders, [taskRow(task)]);
      console.log(
        `\ninput     ${task.input.mediaType}, ${task.input.size} bytes, sha256 ${task.input.sha256}`,
      );
      for (const entry of task.timeline ?? []) console.log(`  ${formatTime(entry.at)}  ${entry.stage}`);
      if (task.result !== undefined) console.log(`\nresult    ${JSON.stringify(task.result).slice(0, 500)}`);
    });

  withClientFlags(tasks.command('cancel'))
    .description('cancel queued or running tasks (--purge also deletes them, whatever their state)')
    .argument('<ids...>', 'task ids')
    .option('--purge', 'also delete the task, its result and its input (when no other task uses it)')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tasks cancel 0190… 0191…\n  inferq tasks cancel --purge 0190…\n${exitCodesHelp}\n`,
    )
    .action(async (ids: string[], flags: ClientFlags & { purge?: boolean }) => {
      const client = clientFrom(flags);
      const out = [];
      for (const id of ids) out.push(await client.cancel(id, { purge: flags.purge === true }));
      if (flags.json) return printJson(out);
      printTable(
        ['ID', 'STATE', 'PURGED'],
        out.map((r) => [r.id, r.state, r.purged ? 'yes' : 'no']),
      );
    });

  withClientFlags(tasks.command('result'))
    .description('print the result JSON of a succeeded task (exit 5 when it failed, 4 when not ready)')
    .argument('<id>', 'task id')
    .option('--wait', 'wait until the task is final first')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tasks result 0190… > result.json\n  inferq tasks result --wait 0190…\n${exitCodesHelp}\n`,
    )
    .action(async (id: string, flags: ClientFlags & { wait?: boolean }) => {
      const client = clientFrom(flags);
      if (flags.wait) {
        const task = await client.wait(id);
        if (task.state !== 'succeeded') {
          console.error(
            `inferq: task ${id} ${task.state}${task.error ? `: ${task.error.code}: ${task.error.message}` : ''}`,
          );
          process.exitCode = exitCodes.taskFailed;
          return;
        }
      }
      const result = await client.result(id);
      printJson(flags.json ? result : result.result);
    });
}
