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
  const common = (command: Command) =>
    command
      .option('-c, --config <file>', 'inferq.yaml to read')
      .option('--data-dir <dir>', 'data directory (default ./data)');

  common(keys.command('create'))
    .description('create an API key and print it once')
    .requiredOption('--tenant <tenant>', 'tenant the key acts for')
    .option('--admin', 'admin scope (key management, stats of all tenants)')
    .option('--name <name>', 'a label to recognise the key by')
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
    .action(async (flags: { tenant?: string }) => {
      const list = await withStore(flags, (auth) =>
        auth.listApiKeys(flags.tenant ? { tenant: flags.tenant } : {}),
      );
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
    .action(async (id: string, flags: Record<string, unknown>) => {
      if (!(await withStore(flags, (auth) => auth.revokeApiKey(id)))) {
        throw new InferqError('INFERQ_API_KEY_NOT_FOUND', `no live API key ${id}`, { details: { id } });
      }
      console.log(`revoked ${id}`);
    });
}
