import { Counter, Histogram, Registry } from 'prom-client';

/** The API's own metrics, registered on the app's registry (never prom-client's global one). */
export interface ApiMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  tasksSubmitted: Counter<'target' | 'cached'>;
}

export function createApiMetrics(registry: Registry = new Registry()): ApiMetrics {
  return {
    registry,
    httpRequests: new Counter({
      name: 'inferq_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'inferq_http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    tasksSubmitted: new Counter({
      name: 'inferq_tasks_submitted_total',
      help: 'Tasks created, by target and whether the result cache answered',
      labelNames: ['target', 'cached'],
      registers: [registry],
    }),
  };
}
