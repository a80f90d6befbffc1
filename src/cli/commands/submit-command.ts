import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { fileInput, type InferqClient, type SubmittedTask, type Task } from '../../client/index.js';
import {
  type ClientFlags,
  clientFrom,
  collectList,
  jsonObject,
  positiveInteger,
  withClientFlags,
} from './client-flags.js';
import { exitCodes, exitCodesHelp } from './exit-codes.js';
import { printJson, printTable } from './output.js';
import { ProgressBar } from './progress-bar.js';

interface SubmitFlags extends ClientFlags {
  model: string[];
  wait?: boolean;
  out?: string;
  params?: Record<string, unknown>;
  priority?: number;
  chunk: number;
}

/** One input file × one target, and what became of it. */
interface Row {
  file: string;
  requestId: string;
  task: SubmittedTask;
  final?: Task;
  output?: string;
}

/** Where the result of `file` on `target` is written: next to the input, or into `--out`. */
export function resultPath(file: string, target: string, out: string | undefined): string {
  const name = `${path.basename(file)}.${target.split('@')[0]}.json`;
  return path.join(out ?? path.dirname(file), name);
}

async function submitAll(client: InferqClient, files: string[], flags: SubmitFlags): Promise<Row[]> {
  const rows: Row[] = [];
  const bar = new ProgressBar('uploading', files.length);
  const warned = new Set<string>();
  for (let i = 0; i < files.length; i += flags.chunk) {
    const chunk = files.slice(i, i + flags.chunk);
    const submission = await client.submit(flags.model, await Promise.all(chunk.map(fileInput)), {
      ...(flags.params ? { params: flags.params } : {}),
      ...(flags.priority === undefined ? {} : { priority: flags.priority }),
    });
    // Said once each: e.g. no worker serves a model, so its tasks will wait.
    for (const warning of submission.warnings ?? []) {
      if (warned.has(warning.message)) continue;
      warned.add(warning.message);
      bar.clear();
      console.error(`inferq: warning: ${warning.message}`);
    }
    // Tasks come input-major: input 0 × every target, then input 1 × every target…
    submission.tasks.forEach((task, k) => {
      rows.push({ file: chunk[Math.floor(k / flags.model.length)]!, requestId: submission.requestId, task });
    });
    bar.update(Math.min(i + flags.chunk, files.length));
  }
  bar.done();
  return rows;
}

async function waitAll(client: InferqClient, rows: Row[], out: string | undefined): Promise<void> {
  const byId = new Map(rows.map((r) => [r.task.id, r]));
  const bar = new ProgressBar('running', rows.length);
  let finished = 0;
  const finish = async (row: Row, task: Task) => {
    row.final = task;
    if (task.state === 'succeeded') {
      row.output = resultPath(row.file, task.target, out);
      const body = {
        id: task.id,
        target: task.target,
        input: path.basename(row.file),
        cached: task.cached,
        result: task.result,
      };
      await writeFile(row.output, `${JSON.stringify(body, null, 2)}\n`);
    }
    bar.update(++finished, task.state === 'succeeded' ? '' : `${task.state}: ${path.basename(row.file)}`);
  };
  // One event stream per submission request: tasks report as they finish, in any order.
  const requestIds = new Set(rows.map((r) => r.requestId));
  await Promise.all(
    [...requestIds].map(async (requestId) => {
      for await (const task of client.watchRequest(requestId)) {
        const row = byId.get(task.id);
        if (row === undefined || row.final !== undefined) continue;
        if (task.state === 'succeeded' || task.state === 'failed' || task.state === 'cancelled') {
          await finish(row, task.state === 'succeeded' ? await client.get(task.id) : task);
        }
      }
    }),
  );
  bar.done();
}

/** `inferq submit FILES… --model M [--model M2] [--wait] [--out DIR]`. */
export function addSubmitCommand(program: Command): void {
  withClientFlags(program.command('submit'))
    .description('submit files to one or more models; with --wait, write each result as JSON')
    .argument('<files...>', 'input files (images, text, …); the server sniffs their type')
    .requiredOption(
      '-m, --model <target>',
      'model or pipeline, name or name@version (repeat the flag, or separate with commas, for several)',
      collectList,
    )
    .option('-w, --wait', 'wait for every task and write its result as <file>.<model>.json')
    .option('-o, --out <dir>', 'write results into this directory instead of next to each input')
    .option('--params <json>', 'model params as a JSON object', jsonObject)
    .option('--priority <n>', 'priority, -1000..1000 (higher runs first)', Number)
    .option('--chunk <n>', 'files per request', positiveInteger, 50)
    .addHelpText(
      'after',
      `
Examples:
  inferq submit page.png --model ocr-det
  inferq submit --model ocr scan.png
  inferq submit scans/*.png --model ocr-det --model ocr-cls --wait --out results/
  inferq submit notes.txt --model echo --params '{"delayMs":100}' --wait --json
${exitCodesHelp}
`,
    )
    .action(async (files: string[], flags: SubmitFlags) => {
      for (const file of files) {
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile()) {
          console.error(`inferq: ${file} is not a readable file`);
          process.exitCode = exitCodes.usage;
          return;
        }
      }
      if (flags.out) await mkdir(flags.out, { recursive: true });
      const client = clientFrom(flags);
      const rows = await submitAll(client, files, flags);
      if (flags.wait) await waitAll(client, rows, flags.out);
      const failed = rows.filter((r) => r.final !== undefined && r.final.state !== 'succeeded');
      if (flags.json) {
        printJson(
          rows.map((r) => ({
            file: r.file,
            id: r.task.id,
            target: r.task.target,
            state: r.final?.state ?? r.task.state,
            ...(r.output ? { output: r.output } : {}),
            ...(r.final?.error ? { error: r.final.error } : {}),
          })),
        );
      } else {
        printTable(
          ['FILE', 'TARGET', 'TASK', 'STATE', flags.wait ? 'RESULT' : ''],
          rows.map((r) => [
            r.file,
            r.task.target,
            r.task.id,
            r.final?.state ?? r.task.state,
            r.output ?? (r.final?.error ? `${r.final.error.code}: ${r.final.error.message}` : ''),
          ]),
        );
      }
      if (failed.length > 0) process.exitCode = exitCodes.taskFailed;
    });
}
