import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { startRetentionCleaner } from '../worker/retention-cleaner.js';
import { openBackends } from './open-backends.js';

/** `inferq serve`: the embedded deployment in one process. Resolves after a graceful shutdown. */
export async function serve(config: Config): Promise<void> {
  const logger = pino({ level: config.log.level });
  const backends = await openBackends(config);
  const cleaner = startRetentionCleaner({
    store: backends.store,
    blobs: backends.blobs,
    ttlMs: config.retention.ttlMs,
    graceMs: config.retention.blobGraceMs,
    intervalMs: config.retention.intervalMs,
    logger,
  });

  console.log(`inferq serving (embedded)
  task store  ${config.store.url}
  queue       ${config.broker.url}
  blobs       ${config.blobs.url}
  retention   tasks and inputs kept ${Math.round(config.retention.ttlMs / 3_600_000)} h
Press Ctrl+C to stop.`);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await cleaner.stop();
  await backends.close();
}
