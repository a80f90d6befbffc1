import path from 'node:path';
import type { Config } from '../config/schema.js';
import { retireQueueFile } from '../queue/sqlite/move-queue-file.js';
import { SqliteBroker, type SqliteBrokerOptions } from '../queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../store/sqlite/sqlite-task-store.js';
import { sweepOutbox } from '../worker/outbox-sweeper.js';

/** Store and broker of the embedded layout: one SQLite file, one connection. */
export interface EmbeddedBackends {
  store: SqliteTaskStore;
  broker: SqliteBroker;
}

/**
 * The task store in `file` with the queue's tables beside its own, on its connection, writing
 * each queued task's job in the transaction that creates the task (no data-dir move: see
 * {@link openEmbedded}).
 */
export function openStoreWithQueue(file: string, options: SqliteBrokerOptions = {}): EmbeddedBackends {
  let broker: SqliteBroker | undefined;
  const store = SqliteTaskStore.open(file, {
    jobs: (db) => {
      broker = SqliteBroker.inTaskDatabase(db, options);
      return broker.writeTaskJobs;
    },
  });
  return { store, broker: broker! };
}

/**
 * Opens the task store and the queue in one SQLite file on one connection (the broker's tables
 * beside the store's), the store writing each queued task's job in the transaction that creates
 * the task: the task table's file is the queue, and no task is durable without its job.
 *
 * An older data dir keeps its queue in `<dataDir>/queue.db` (the default before): its jobs are
 * moved in (move-queue-file.ts), every task still `queued` without a job gets one (an enqueue
 * the older layout had left to its outbox sweeper), then the file is renamed
 * `queue.db.moved`. Each step can run again, so a crash part way resumes on the next open.
 */
export async function openEmbedded(config: Config, file: string): Promise<EmbeddedBackends> {
  const opened = openStoreWithQueue(file, { reapIntervalMs: config.broker.reapIntervalMs });
  const { store } = opened;
  try {
    const legacy = path.join(config.dataDir, 'queue.db');
    if (path.resolve(legacy) !== path.resolve(file) && opened.broker.importQueueFile(legacy) !== undefined) {
      await sweepOutbox({ store, broker: opened.broker, graceMs: 0, limit: Number.MAX_SAFE_INTEGER });
      retireQueueFile(legacy);
    }
    return opened;
  } catch (err) {
    await opened.broker.close();
    await store.close();
    throw err;
  }
}
