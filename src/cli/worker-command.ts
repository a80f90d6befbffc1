import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { startRealtimeServing } from '../worker/realtime-serving.js';
import { openBackends } from './open-backends.js';
import { startWorkers } from './start-workers.js';

/**
 * `inferq worker`: serves models from the configured broker until SIGTERM/SIGINT. The first
 * signal drains (stop leasing, finish the batches in flight, exit); a second one aborts at once
 * and the leases of what was in flight simply expire.
 */
export async function runWorker(config: Config, only?: readonly string[]): Promise<void> {
  const logger = pino({ level: config.log.level });
  // Listen before anything starts: a signal that arrives while models load must still drain.
  let signals = 0;
  let onSignal: (count: number) => void = () => {};
  const handler = () => {
    signals++;
    onSignal(signals);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);

  const backends = await openBackends(config);
  const metricsRegistry = new Registry();
  const workers = await startWorkers({
    config,
    backends,
    logger,
    metricsRegistry,
    ...(only ? { only } : {}),
  });
  // The fast path for API hosts elsewhere: on the same warm runtimes, found through the heartbeat.
  const bind = config.workers.realtimeBind;
  const realtime =
    bind === undefined
      ? undefined
      : await startRealtimeServing({
          bind,
          ...(config.workers.realtimeAdvertise ? { advertise: config.workers.realtimeAdvertise } : {}),
          runtimes: workers.runtimes,
          queueLimit: config.workers.fastQueueLimit,
          registry: metricsRegistry,
          logger,
        });
  if (realtime) await workers.worker.advertiseRealtime(realtime.endpoint);
  console.log(
    `inferq worker ${workers.worker.id} serving: ${workers.worker.models.join(', ') || '(no models loaded)'}`,
  );
  if (realtime) console.log(`  fast path over ZeroMQ at ${realtime.endpoint}`);
  for (const [model, reason] of Object.entries(workers.unavailable))
    console.log(`  unavailable: ${model}: ${reason}`);

  await new Promise<void>((resolve) => {
    // Both signals may have come while the workers started (a loaded host): then resolve too,
    // or the process would wait here for ever and exit 13 once the aborted workers let go.
    onSignal = (count) => {
      resolve();
      if (count > 1) void workers.stop({ abort: true });
    };
    if (signals > 0) onSignal(signals);
  });
  console.log('draining: finishing the batches in flight (signal again to abort)');
  await realtime?.stop();
  await workers.stop({ abort: signals > 1 });
  await backends.close();
  process.off('SIGTERM', handler);
  process.off('SIGINT', handler);
}
