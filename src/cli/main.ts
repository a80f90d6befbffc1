import { Command, Option } from 'commander';
import { loadConfig } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { isInferqError } from '../errors/index.js';
import { serve } from './serve.js';

interface CommonFlags {
  config?: string;
  dataDir?: string;
  store?: string;
  broker?: string;
  blobs?: string;
  logLevel?: string;
}

function configFrom(flags: CommonFlags & { port?: string; host?: string }): Config {
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
    },
  });
}

function withCommonFlags(command: Command): Command {
  return command
    .option('-c, --config <file>', 'inferq.yaml to read (default ./inferq.yaml if present)')
    .option('--data-dir <dir>', 'where the embedded store, queue and blobs live (default ./data)')
    .option('--store <url>', 'task store URL, e.g. sqlite:./data/inferq.db')
    .option('--broker <url>', 'broker URL, e.g. sqlite:./data/queue.db')
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
    .showHelpAfterError();

  withCommonFlags(program.command('serve'))
    .description('run the embedded server: task store, queue, blob store and their maintenance')
    .option('-p, --port <port>', 'HTTP port')
    .option('--host <host>', 'HTTP host to bind')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq serve\n  inferq serve --data-dir /var/lib/inferq --port 9000\n',
    )
    .action(async (flags: CommonFlags & { port?: string; host?: string }) => {
      await serve(configFrom(flags));
    });

  return program;
}

/** Entry point of bin/inferq.js. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (isInferqError(err)) {
      console.error(`inferq: ${err.code}: ${err.message}`);
      process.exitCode = err.code.startsWith('INFERQ_CONFIG') ? 2 : 1;
      return;
    }
    throw err;
  }
}
