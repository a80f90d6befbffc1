import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Per-model worker metrics, registered on the registry the host's `/metrics` serves (never
 * the global default registry: tests and embedded hosts create several).
 */
export class WorkerMetrics {
  readonly batchSize: Histogram<'model'>;
  readonly computeSeconds: Histogram<'model'>;
  readonly queueWaitSeconds: Histogram<'model'>;
  readonly items: Counter<'model' | 'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.batchSize = new Histogram({
      name: 'inferq_batch_size',
      help: 'Items per model run (the batch size actually achieved)',
      labelNames: ['model'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.computeSeconds = new Histogram({
      name: 'inferq_compute_seconds',
      help: 'Model run time per batch',
      labelNames: ['model'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'inferq_queue_wait_seconds',
      help: 'Time from enqueue to the start of the batch',
      labelNames: ['model'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    });
    this.items = new Counter({
      name: 'inferq_items_total',
      help: 'Items processed, by outcome (succeeded, failed, retried, skipped, stale)',
      labelNames: ['model', 'outcome'],
      registers,
    });
  }
}
