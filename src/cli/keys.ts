import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { InferqError } from '../errors/index.js';
import type { AuthStore } from '../store/auth-store.js';
import { openAuthStore } from './auth-bootstrap.js';

/** `inferq keys create|list|revoke`: API keys in the local auth store. */
export function addKeysCommand(
  program: Command,
  configFrom: (flags: Record<string, unknown>) => Config,
): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; a key is shown once)');
  const withStore = async <T>(flags: Record<string, unknown>, fn: (auth: AuthStore) => Promise<T>) => {
    const auth = await openAuthStore(configFrom(flags));
    try {
      return await fn(auth);
    } finally {
      await auth.close();
    }
  };
  // The keys live beside the tasks: in PostgreSQL when the task store is there (every API host
  // reads them), else in <data-dir>/auth.db. So --store picks the deployment as for serve/worker.
  const common = (command: Command) =>
    command
      .option('-c, --config <file>', 'inferq.yaml to read')
      .option('--data-dir <dir>', 'data directory (default ./data)')
      .option(
        '--store <url>',
        'task store URL of the deployment, e.g. postgres://user@db/inferq?schema=prod',
      );

  common(keys.command('create'))
    .description('create an API key and print it once')
    .requiredOption('--tenant <tenant>', 'tenant the key acts for')
    .option('--admin', 'admin scope (key management, stats of all tenants)')
    .option('--name <name>', 'a label to recognise the key by')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq keys create --tenant acme\n  inferq keys create --tenant ops --admin --name ci\n  inferq keys create --tenant acme --store postgres://inferq@db:5432/inferq\n',
    )
    .action(async (flags: { tenant: string; admin?: boolean; name?: string }) => {
      const created = await withStore(flags, (auth) =>
        auth.createApiKey({
          tenant: flags.tenant,
          admin: flags.admin === true,
          ...(flags.name ? { name: flags.name } : {}),
        }),
      );
      console.log(created.key);
      console.error(
        `key ${created.record.id} for tenant ${created.record.tenant}${created.record.admin ? ' (admin)' : ''}; it is not shown again`,
      );
    });

  common(keys.command('list'))
    .description('list API keys (ids, never the keys)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'machine-readable JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq keys list\n  inferq keys list --tenant acme --json\n  inferq keys list --store postgres://inferq@db:5432/inferq\n',
    )
    .action(async (flags: { tenant?: string; json?: boolean }) => {
      const list = await withStore(flags, (auth) =>
        auth.listApiKeys(flags.tenant ? { tenant: flags.tenant } : {}),
      );
      if (flags.json) {
        console.log(JSON.stringify({ items: list }, null, 2));
        return;
      }
      for (const key of list) {
        const state = key.revokedAt === null ? 'active' : `revoked ${new Date(key.revokedAt).toISOString()}`;
        console.log(
          `${key.id}  ${key.tenant}  ${key.admin ? 'admin' : 'user '}  ${state}  ${key.name ?? ''}`.trimEnd(),
        );
      }
    });

  common(keys.command('revoke'))
    .description('revoke an API key (its tokens stop working too)')
    .argument('<id>', 'key id, as shown by keys list')
    .addHelpText(
      'after',
      '\nExamples:\n  inferq keys revoke 0a1b2c3d4e5f6a7b\n  inferq keys revoke 0a1b2c3d4e5f6a7b --store postgres://inferq@db:5432/inferq\n',
    )
    .action(async (id: string, flags: Record<string, unknown>) => {
      if (!(await withStore(flags, (auth) => auth.revokeApiKey(id)))) {
        throw new InferqError('INFERQ_API_KEY_NOT_FOUND', `no live API key ${id}`, { details: { id } });
      }
      console.log(`revoked ${id}`);
    });
}
