import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { openBackends } from './open-backends.js';
import { startWorkers } from './start-workers.js';

/**
 * `inferq worker`: serves models from the configured broker until SIGTERM/SIGINT. The first
 * signal drains (stop leasing, finish the batch in flight, exit); a second one aborts at once
 * and the leases of what was in flight simply expire.
 */
export async function runWorker(config: Config, only?: readonly string[]): Promise<void> {
  const logger = pino({ level: config.log.level });
  const backends = await openBackends(config);
  const workers = await startWorkers({
    config,
    backends,
    logger,
    metricsRegistry: new Registry(),
    ...(only ? { only } : {}),
  });
  console.log(
    `inferq worker ${workers.worker.id} serving: ${workers.worker.models.join(', ') || '(no models loaded)'}`,
  );
  for (const [model, reason] of Object.entries(workers.unavailable))
    console.log(`  unavailable: ${model}: ${reason}`);

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('draining: finishing the batch in flight (signal again to abort)');
  let aborted = false;
  const abort = () => {
    aborted = true;
    void workers.stop({ abort: true });
  };
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  await workers.stop({ abort: aborted });
  await backends.close();
}
