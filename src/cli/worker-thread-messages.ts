import type { MetricsJson } from '../api/app-deps.js';
import type { Config } from '../config/schema.js';

/** What `inferq serve` gives each worker thread (worker-thread.ts) at start. */
export interface WorkerThreadInit {
  config: Config;
}

/** Messages from the host (worker-threads.ts) to a worker thread. */
export type FromHost = { type: 'metrics'; id: number } | { type: 'stop'; abort: boolean };

/** Messages from a worker thread to its host. */
export type ToHost =
  | { type: 'ready'; models: string[]; unavailable: Record<string, string> }
  | { type: 'failed'; message: string }
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'stopped' };
