import type { Config } from '../config/schema.js';
import { PostgresBroker } from '../queue/postgres/postgres-broker.js';
import { PostgresTaskStore } from '../store/postgres/postgres-task-store.js';
import { sweepOutbox } from '../worker/housekeeping/outbox-sweeper.js';

/** Store and broker of PostgreSQL alone: one database and schema, tasks created with their jobs. */
export interface PostgresAloneBackends {
  store: PostgresTaskStore;
  broker: PostgresBroker;
}

const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/**
 * Whether `store.url` and `broker.url` name the same PostgreSQL database and schema (the same
 * server, port, database, user and `?schema=`, default `public`; `postgres://` and
 * `postgresql://` alike): the broker's `broker_jobs` then sits beside the store's tables, where
 * one transaction can write both.
 */
export function postgresAlone(config: Config): boolean {
  const { store, broker } = config;
  if (!isPostgresUrl(store.url) || !isPostgresUrl(broker.url)) return false;
  const a = databaseKey(store.url);
  return a !== undefined && a === databaseKey(broker.url);
}

function databaseKey(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // The opening reports a malformed URL.
  }
  const params = new URLSearchParams(parsed.searchParams);
  params.set('schema', params.get('schema') ?? 'public');
  params.sort();
  const port = parsed.port === '' ? '5432' : parsed.port;
  const path = parsed.pathname === '' || parsed.pathname === '/' ? `/${parsed.username}` : parsed.pathname;
  return `${parsed.username}:${parsed.password}@${parsed.hostname}:${port}${path}?${params}`;
}

/**
 * Opens the postgres broker and the task store on their shared database (PostgreSQL alone), the
 * store writing each queued task's job in the transaction that creates the task
 * (`PostgresBroker.taskJobStatements`): no task is durable without its job, and a submission
 * enqueues nothing after it. The broker opens first: its migrations create `broker_jobs`, which
 * the store's transactions write.
 *
 * No outbox sweeper runs on PostgreSQL alone, so the open that creates the queue's tables (a
 * deployment moving here from Redis or RabbitMQ, whose tasks still `queued` have no job in it)
 * gives each of those tasks its job before it returns (`sweepOutbox`: job id = task id, so a
 * sweep run twice makes one job). Tasks created meanwhile by other hosts already have theirs.
 */
export async function openPostgresAlone(config: Config): Promise<PostgresAloneBackends> {
  const broker = await PostgresBroker.open(config.broker.url, {
    reapIntervalMs: config.broker.reapIntervalMs,
  });
  try {
    const store = await PostgresTaskStore.open(config.store.url, { jobs: broker.taskJobStatements });
    try {
      if (broker.createdQueue) {
        await sweepOutbox({ store, broker, graceMs: 0, limit: Number.MAX_SAFE_INTEGER });
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return { store, broker };
  } catch (err) {
    await broker.close();
    throw err;
  }
}
