import { type Command, InvalidArgumentError } from 'commander';
import type { Tenant, TenantSettings } from '../../client/index.js';
import { maxTenantWeight } from '../../store/auth-store.js';
import { type ClientFlags, clientFrom, withClientFlags } from './client-flags.js';
import { exitCodes, exitCodesHelp } from './exit-codes.js';
import { formatTime, printJson, printTable } from './output.js';

/** `inferq tenants list|get|set`: each tenant's fair-share weight and limits (admin key). */
export function addTenantsCommand(program: Command): void {
  const tenants = program
    .command('tenants')
    .description("tenants' fair-share weights and limits (admin key)");

  withClientFlags(tenants.command('list'))
    .description('list tenants with their weights and limits')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tenants list --key iq_…admin\n  inferq tenants list --json\n${exitCodesHelp}\n`,
    )
    .action(async (flags: ClientFlags) => {
      const { items } = await clientFrom(flags).tenants();
      if (flags.json) return printJson({ items });
      printTenants(items);
    });

  withClientFlags(tenants.command('get'))
    .description("a tenant's weight and limits")
    .argument('<tenant>', 'tenant id')
    .addHelpText(
      'after',
      `\nExamples:\n  inferq tenants get acme\n  inferq tenants get acme --json\n${exitCodesHelp}\n`,
    )
    .action(async (id: string, flags: ClientFlags) => {
      const tenant = await clientFrom(flags).tenant(id);
      if (flags.json) return printJson(tenant);
      printTenants([tenant]);
    });

  withClientFlags(tenants.command('set'))
    .description(
      "set a tenant's weight (its share of each model queue while other tenants have backlog) and limits",
    )
    .argument('<tenant>', 'tenant id')
    .option(
      '--weight <n>',
      `share weight, an integer 1-${maxTenantWeight} ("default": 1)`,
      limit(maxTenantWeight),
    )
    .option('--rate <n>', 'requests a minute ("default": the server\'s api.rateLimitPerMinute)', limit())
    .option('--max-queued <n>', 'queued tasks at most ("default": the server\'s api.maxQueuedTasks)', limit())
    .option(
      '--max-stored-bytes <n>',
      'input bytes its tasks may keep stored ("default": the server\'s api.maxStoredBytes)',
      limit(),
    )
    .addHelpText(
      'after',
      `\nA tenant's priorities order only its own tasks; the weight is what an admin gives a tenant
over others: with weights 2 and 1, two tenants with backlog get about 2/3 and 1/3 of the leases.

Examples:\n  inferq tenants set acme --weight 2\n  inferq tenants set acme --rate 600 --max-queued 10000\n  inferq tenants set acme --weight default --rate default\n${exitCodesHelp}\n`,
    )
    .action(
      async (
        id: string,
        flags: ClientFlags & {
          weight?: Setting;
          rate?: Setting;
          maxQueued?: Setting;
          maxStoredBytes?: Setting;
        },
      ) => {
        const settings: TenantSettings = {
          ...(flags.weight === undefined ? {} : { weight: settingValue(flags.weight) }),
          ...(flags.rate === undefined ? {} : { rateLimitPerMinute: settingValue(flags.rate) }),
          ...(flags.maxQueued === undefined ? {} : { maxQueuedTasks: settingValue(flags.maxQueued) }),
          ...(flags.maxStoredBytes === undefined
            ? {}
            : { maxStoredBytes: settingValue(flags.maxStoredBytes) }),
        };
        if (Object.keys(settings).length === 0) {
          console.error('inferq: nothing to set: give --weight, --rate, --max-queued or --max-stored-bytes');
          process.exitCode = exitCodes.usage;
          return;
        }
        const tenant = await clientFrom(flags).setTenant(id, settings);
        if (flags.json) return printJson(tenant);
        printTenants([tenant]);
      },
    );
}

/** A flag's value: an integer, or `default` (sent as null: back to the default). */
type Setting = number | 'default';

const settingValue = (setting: Setting): number | null => (setting === 'default' ? null : setting);

/** An integer 1..max, or `default`. (Not null for `default`: commander replaces a null it is given.) */
function limit(max = Number.MAX_SAFE_INTEGER): (value: string) => Setting {
  return (value) => {
    if (value === 'default') return 'default';
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}, or "default"`);
    }
    return n;
  };
}

function printTenants(items: readonly Tenant[]): void {
  printTable(
    ['TENANT', 'WEIGHT', 'RATE/MIN', 'MAX QUEUED', 'MAX STORED', 'CREATED'],
    items.map((t) => [
      t.id,
      t.weight,
      t.rateLimitPerMinute ?? 'default',
      t.maxQueuedTasks ?? 'default',
      t.maxStoredBytes ?? 'default',
      formatTime(t.createdAt),
    ]),
  );
}
