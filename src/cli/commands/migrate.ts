import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { openAuthStore } from '../auth-bootstrap.js';
import { openBackends } from '../open-backends.js';
import { openWorkerRegistry } from '../start-workers.js';
import { readSchemaVersions } from './schema-versions.js';

/**
 * Opens every database of the deployment once — task store, queue, blobs, auth store, worker
 * registry — so that their migrations apply (each adapter migrates when opened, behind a lock:
 * safe while other hosts run), then prints the schema version of each component.
 */
export async function migrate(config: Config): Promise<void> {
  const backends = await openBackends(config);
  try {
    const auth = await openAuthStore(config);
    await auth.close();
    const registry = await openWorkerRegistry(config);
    await registry?.close();
  } finally {
    await backends.close();
  }
  for (const { location, versions } of await readSchemaVersions(config)) {
    console.log(location);
    for (const [component, version] of Object.entries(versions)) {
      console.log(`  ${component.padEnd(16)} version ${version}`);
    }
  }
  console.log('schema up to date');
}

/** Registers `inferq migrate`; `withFlags` adds the shared --config/--store/--broker/--blobs flags. */
export function addMigrateCommand(
  program: Command,
  withFlags: (command: Command) => Command,
  configFrom: (flags: Record<string, unknown>) => Config,
): void {
  withFlags(program.command('migrate'))
    .description('apply the database migrations (also applied at start) and print the schema versions')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq migrate\n  inferq migrate --store "postgres://inferq:secret@db:5432/inferq?schema=inferq" --broker redis://redis:6379 --blobs "postgres://inferq:secret@db:5432/inferq?schema=inferq"\n',
    )
    .action(async (flags: Record<string, unknown>) => {
      await migrate(configFrom(flags));
    });
}
