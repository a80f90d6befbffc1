import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BlobStore } from '../blobs/blob-store.js';
import { FsBlobStore } from '../blobs/fs-blob-store.js';
import { InlineBlobStore } from '../blobs/inline-blob-store.js';
import { PostgresBlobStore } from '../blobs/postgres-blob-store.js';
import type { Config } from '../config/schema.js';
import { InferqError } from '../errors/index.js';
import type { Broker } from '../queue/broker.js';
import { PostgresBroker } from '../queue/postgres/postgres-broker.js';
import { RabbitMqBroker } from '../queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../queue/redis/redis-broker.js';
import { SqliteBroker } from '../queue/sqlite/sqlite-broker.js';
import { PostgresTaskStore } from '../store/postgres/postgres-task-store.js';
import { SqliteTaskStore } from '../store/sqlite/sqlite-task-store.js';
import { type TaskDatabase, type TaskRoles, taskRoles } from '../store/task-database.js';
import { openEmbedded } from './open-embedded.js';
import { openPostgresAlone, postgresAlone } from './open-postgres-alone.js';

/** The task database in its roles (`store`, `webhooks`, `idempotencyKeys`, `feedback`, `stats`), the broker, the blobs. */
export interface Backends extends TaskRoles {
  broker: Broker;
  blobs: BlobStore;
  /**
   * The store writes each queued task's job in the transaction that creates the task (the
   * embedded layout: broker and store in one SQLite file; PostgreSQL alone: the postgres broker
   * in the store's own database and schema); callers creating tasks then do not enqueue them,
   * and no outbox sweeper is needed.
   */
  jobsWrittenByStore: boolean;
  close(): Promise<void>;
}

/** The part of a `scheme:rest` URL after the scheme, for file-backed adapters. */
function filePart(url: string, scheme: string): string {
  const rest = url.slice(scheme.length + 1).replace(/^\/\/(?=\/)/, '');
  return path.resolve(rest);
}

function unsupported(key: string, url: string, supported: string[]): InferqError {
  const scheme = url.split(':')[0];
  return new InferqError(
    'INFERQ_CONFIG_INVALID',
    `config key "${key}" has an unsupported scheme "${scheme}:"; supported: ${supported.join(', ')}`,
    { details: { key, value: url, allowed: supported } },
  );
}

/** `postgres://` and `postgresql://` (libpq's two spellings). */
const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

export async function openStore(config: Config): Promise<TaskDatabase> {
  const url = config.store.url;
  if (url.startsWith('sqlite:')) return SqliteTaskStore.open(filePart(url, 'sqlite'));
  if (isPostgresUrl(url)) return PostgresTaskStore.open(url);
  throw unsupported('store.url', url, ['sqlite:', 'postgres://']);
}

/**
 * `?prefix=name` on a `redis://` URL is inferq's own parameter (taken off before ioredis sees the
 * URL): the BullMQ key prefix, default `bull`. Deployments (and tests) sharing one Redis use
 * different prefixes. On an `amqp://` URL it is the queue and exchange name prefix (default
 * `inferq`), taken off before amqplib sees the URL.
 */
function redisPrefix(url: string): { redisUrl: string; prefix?: string } {
  const parsed = new URL(url);
  const prefix = parsed.searchParams.get('prefix');
  if (prefix === null) return { redisUrl: url };
  if (!/^[\w.-]{1,64}$/.test(prefix)) {
    throw new InferqError(
      'INFERQ_CONFIG_INVALID',
      `Redis key prefix "${prefix}" must match [A-Za-z0-9_.-]{1,64}`,
      {
        details: { key: 'broker.url', prefix },
      },
    );
  }
  parsed.searchParams.delete('prefix');
  return { redisUrl: parsed.toString(), prefix };
}

export async function openBroker(config: Config): Promise<Broker> {
  const url = config.broker.url;
  if (url.startsWith('sqlite:')) {
    return SqliteBroker.open(filePart(url, 'sqlite'), { reapIntervalMs: config.broker.reapIntervalMs });
  }
  if (/^rediss?:\/\//.test(url)) {
    const { redisUrl, prefix } = redisPrefix(url);
    return RedisBroker.open(redisUrl, {
      reapIntervalMs: config.broker.reapIntervalMs,
      ...(prefix === undefined ? {} : { prefix }),
    });
  }
  // The queue as a table of the PostgreSQL database (the task store's, when both URLs name it).
  if (isPostgresUrl(url)) return PostgresBroker.open(url, { reapIntervalMs: config.broker.reapIntervalMs });
  if (/^amqps?:\/\//.test(url)) {
    const { redisUrl: amqpUrl, prefix } = redisPrefix(url);
    return RabbitMqBroker.open(amqpUrl, prefix === undefined ? {} : { prefix });
  }
  throw unsupported('broker.url', url, ['sqlite:', 'postgres://', 'redis://', 'amqp://']);
}

/**
 * The blob store. With a `file:` blob store and a SQLite task store (the embedded deployment,
 * one host), contents up to `blobs.inlineMaxBytes` are kept in the task database instead of
 * files (see InlineBlobStore); with PostgreSQL (several hosts) a `file:` store is a shared volume
 * and stays all files.
 */
export async function openBlobs(config: Config): Promise<BlobStore> {
  const url = config.blobs.url;
  if (url.startsWith('file:')) {
    const dir = filePart(url, 'file');
    mkdirSync(dir, { recursive: true });
    const files = await FsBlobStore.open(dir);
    if (config.blobs.inlineMaxBytes === 0 || !config.store.url.startsWith('sqlite:')) return files;
    return InlineBlobStore.open(filePart(config.store.url, 'sqlite'), files, {
      inlineMaxBytes: config.blobs.inlineMaxBytes,
    });
  }
  if (isPostgresUrl(url)) return PostgresBlobStore.open(url);
  throw unsupported('blobs.url', url, ['file:', 'postgres://']);
}

/** The file when store and broker are SQLite in the same file (the embedded default). */
function sharedSqliteFile(config: Config): string | undefined {
  const { store, broker } = config;
  if (!store.url.startsWith('sqlite:') || !broker.url.startsWith('sqlite:')) return undefined;
  const file = filePart(store.url, 'sqlite');
  return file === filePart(broker.url, 'sqlite') ? file : undefined;
}

/** Opens every backend named by the config; closes what was opened if a later one fails. */
export async function openBackends(config: Config): Promise<Backends> {
  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const sharedFile = sharedSqliteFile(config);
    const sharedDatabase = postgresAlone(config);
    let store: TaskDatabase;
    let broker: Broker;
    if (sharedFile !== undefined) {
      ({ store, broker } = await openEmbedded(config, sharedFile));
      opened.push(store, broker);
    } else if (sharedDatabase) {
      ({ store, broker } = await openPostgresAlone(config));
      opened.push(store, broker);
    } else {
      store = await openStore(config);
      opened.push(store);
      broker = await openBroker(config);
      opened.push(broker);
    }
    const blobs = await openBlobs(config);
    opened.push(blobs);
    return {
      ...taskRoles(store),
      broker,
      blobs,
      jobsWrittenByStore: sharedFile !== undefined || sharedDatabase,
      async close() {
        for (const backend of opened.reverse()) await backend.close();
      },
    };
  } catch (err) {
    for (const backend of opened.reverse()) await backend.close().catch(() => {});
    throw err;
  }
}
