import { Command, CommanderError, Option } from 'commander';
import { isInferqClientError } from '../client/index.js';
import { loadConfig } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { isInferqError } from '../errors/index.js';
import { addClientCommands } from './commands/client-commands.js';
import { exitCodeFor, exitCodes } from './commands/exit-codes.js';
import { addMigrateCommand } from './commands/migrate.js';
import { addKeysCommand } from './keys.js';
import { serve } from './serve.js';
import { runWorker } from './worker-command.js';

interface CommonFlags {
  config?: string;
  dataDir?: string;
  store?: string;
  broker?: string;
  blobs?: string;
  logLevel?: string;
}

function configFrom(
  flags: CommonFlags & { port?: string; host?: string },
  more: Record<string, unknown> = {},
): Config {
  return loadConfig({
    ...(flags.config ? { file: flags.config } : {}),
    overrides: {
      dataDir: flags.dataDir,
      'store.url': flags.store,
      'broker.url': flags.broker,
      'blobs.url': flags.blobs,
      'log.level': flags.logLevel,
      'server.port': flags.port === undefined ? undefined : Number(flags.port),
      'server.host': flags.host,
      ...more,
    },
  });
}

function withCommonFlags(command: Command): Command {
  return command
    .option('-c, --config <file>', 'inferq.yaml to read (default ./inferq.yaml if present)')
    .option('--data-dir <dir>', 'where the embedded store, queue and blobs live (default ./data)')
    .option('--store <url>', 'task store URL, e.g. sqlite:./data/inferq.db')
    .option(
      '--broker <url>',
      'broker URL: sqlite:./data/queue.db, postgres://… (the store URL: PostgreSQL alone), redis://… or amqp://…',
    )
    .option('--blobs <url>', 'blob store URL, e.g. file:./data/blobs')
    .addOption(
      new Option('--log-level <level>').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    );
}

export function buildProgram(): Command {
  const program = new Command('inferq')
    .description('Durable, horizontally scalable asynchronous inference for ML models')
    .showHelpAfterError()
    // Usage errors exit 2 (see exit-codes.ts), not commander's default 1.
    .exitOverride();

  withCommonFlags(program.command('serve'))
    .description('run the API with model workers in one process (embedded: SQLite + local files)')
    .option('-p, --port <port>', 'HTTP port')
    .option('--host <host>', 'HTTP host to bind')
    .option('--no-workers', 'API only: run no models in this process (workers run elsewhere)')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq serve\n  inferq serve --data-dir /var/lib/inferq --port 9000\n  inferq serve --no-workers\n',
    )
    .action(async (flags: CommonFlags & { port?: string; host?: string; workers: boolean }) => {
      await serve(configFrom(flags), { workers: flags.workers });
    });

  withCommonFlags(program.command('worker'))
    .description('run model workers only: lease jobs from the broker, run the models, store results')
    .option('-m, --model <name...>', 'serve only these models (name or name@version); default all')
    .option(
      '--realtime <endpoint>',
      'also serve the fast path to API hosts over ZeroMQ, bound here (tcp://0.0.0.0:5570)',
    )
    .option(
      '--realtime-advertise <endpoint>',
      'the address API hosts dial for --realtime (default: as bound)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  inferq worker\n  inferq worker --model ocr-det ocr-rec\n  inferq worker --realtime tcp://0.0.0.0:5570 --realtime-advertise tcp://10.0.0.7:5570\n',
    )
    .action(
      async (flags: CommonFlags & { model?: string[]; realtime?: string; realtimeAdvertise?: string }) => {
        const config = configFrom(flags, {
          'workers.realtimeBind': flags.realtime,
          'workers.realtimeAdvertise': flags.realtimeAdvertise,
        });
        await runWorker(config, flags.model);
      },
    );

  addKeysCommand(program, configFrom);
  addMigrateCommand(program, withCommonFlags, configFrom);
  addClientCommands(program);

  return program;
}

/** Entry point of bin/inferq.js. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3-7: exit-codes.ts. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
      return;
    }
    if (isInferqError(err) || isInferqClientError(err)) {
      console.error(`inferq: ${err.code}: ${err.message}`);
      process.exitCode = exitCodeFor(err);
      return;
    }
    throw err;
  }
}
