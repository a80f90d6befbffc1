import { InferqClientError } from './client-error.js';
import { type HttpOptions, HttpTransport } from './http.js';
import { allText, type Input, multipartBody } from './inputs.js';
import { readEvents } from './sse.js';
import type {
  CancelResult,
  FastPrediction,
  FeedbackResult,
  LatencyBreakdown,
  Models,
  Stats,
  StatsHistory,
  StatsOverview,
  StatsSnapshot,
  Submission,
  SubmitOptions,
  Task,
  TaskFilter,
  TaskListPage,
  TaskResult,
  Tenant,
  TenantSettings,
  Tenants,
  Token,
  WebhookSecretInfo,
  Workers,
} from './types.js';

export type ClientOptions = Omit<HttpOptions, 'credential'> & {
  /** An API key (`iq_…`) or a token from `POST /v1/auth/token`. */
  apiKey?: string;
};

export interface WaitOptions {
  /** Give up after this long with `INFERQ_CLIENT_TIMEOUT` (the task keeps running). Default: never. */
  timeoutMs?: number;
  /**
   * Polling interval when the event stream is unavailable; each poll waits on the server
   * (`?wait=`) for up to this long, so a final state is seen at once. Default 1 s.
   */
  pollIntervalMs?: number;
  signal?: AbortSignal;
  /** Called with every state the task passes through. */
  onUpdate?: (task: Task) => void;
}

/** Options of the reads of one task. */
export interface ReadOptions {
  /** Long polling: let the server hold the request until the task is final, up to this long. */
  waitMs?: number;
  signal?: AbortSignal;
}

function readOptions(options: ReadOptions): { query?: { wait: number }; signal?: AbortSignal } {
  return {
    ...(options.waitMs === undefined ? {} : { query: { wait: Math.max(0, Math.round(options.waitMs)) } }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

const finalStates = new Set(['succeeded', 'failed', 'cancelled']);
const isFinal = (task: Pick<Task, 'state'>) => finalStates.has(task.state);

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The inferq HTTP API, typed from the server's own schemas. Works in Node 20+ and browsers
 * (global fetch, FormData, streams). Every call throws `InferqClientError` with the API's code.
 *
 * @example
 * const iq = new InferqClient({ url: 'http://127.0.0.1:8080', apiKey: process.env.KEY });
 * const { tasks } = await iq.submit('ocr-det', [await fileInput('page.png')]);
 * const done = await iq.wait(tasks[0].id);
 */
export class InferqClient {
  readonly http: HttpTransport;

  constructor(options: ClientOptions) {
    const { apiKey, ...http } = options;
    this.http = new HttpTransport({ ...http, ...(apiKey === undefined ? {} : { credential: apiKey }) });
  }

  /** Exchanges the API key for a short-lived token (`POST /v1/auth/token`); optionally uses it from now on. */
  async token(apiKey: string, options: { use?: boolean } = {}): Promise<Token> {
    const token = await this.http.json<Token>('/v1/auth/token', {
      method: 'POST',
      body: { apiKey },
      retry: true,
    });
    if (options.use === true) this.http.credential = token.token;
    return token;
  }

  /**
   * Creates one task per input × target. Retried safely: every attempt carries the same
   * `Idempotency-Key`, so a request that reached the server once is never created twice.
   */
  async submit(
    targets: string | readonly string[],
    inputs: Input | readonly Input[],
    options: SubmitOptions = {},
  ): Promise<Submission> {
    const targetList = typeof targets === 'string' ? [targets] : [...targets];
    const inputList: Input[] = Array.isArray(inputs) ? [...inputs] : [inputs as Input];
    return this.http.json<Submission>('/v1/tasks', {
      method: 'POST',
      headers: { 'idempotency-key': options.idempotencyKey ?? randomKey() },
      body: this.submitBody(inputList, options, targetList),
      retry: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** One input to one model, waiting on the server for the result (`POST /v1/models/{name}/predict`). */
  async predict(
    model: string,
    input: Input,
    options: SubmitOptions & { timeoutMs?: number } = {},
  ): Promise<Task> {
    return this.http.json<Task>(`/v1/models/${encodeURIComponent(model)}/predict`, {
      method: 'POST',
      headers: { 'idempotency-key': options.idempotencyKey ?? randomKey() },
      query: { timeoutMs: options.timeoutMs },
      body: this.submitBody([input], options),
      retry: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * One input to one model on the fast path (`predict` with `durable: false`): straight to a
   * warm worker, answered now, nothing stored (no task id, no cache, no webhook). A full queue
   * is INFERQ_FAST_PATH_BUSY (503, with Retry-After); not retried here, since the model may
   * have run. `timeoutMs` bounds the wait (queue and run; past it INFERQ_FAST_PATH_TIMEOUT, 504,
   * and the call is cancelled); `resend: false` asks for at most once to the model when a
   * remote worker is lost mid-call (INFERQ_FAST_PATH_WORKER_LOST instead of a second run).
   */
  async predictNow(
    model: string,
    input: Input,
    options: {
      params?: Record<string, unknown>;
      signal?: AbortSignal;
      timeoutMs?: number;
      resend?: boolean;
    } = {},
  ): Promise<FastPrediction> {
    return this.http.json<FastPrediction>(`/v1/models/${encodeURIComponent(model)}/predict`, {
      method: 'POST',
      query: { durable: false, timeoutMs: options.timeoutMs, resend: options.resend },
      body: this.submitBody([input], options.params === undefined ? {} : { params: options.params }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  private submitBody(inputs: Input[], options: SubmitOptions, targets?: string[]): unknown {
    const fields = {
      ...(options.params === undefined ? {} : { params: options.params }),
      ...(options.priority === undefined ? {} : { priority: options.priority }),
      ...(options.callbackUrl === undefined ? {} : { callbackUrl: options.callbackUrl }),
    };
    if (allText(inputs)) {
      return {
        ...(targets === undefined ? {} : { targets }),
        ...fields,
        inputs: inputs.map((i) => (typeof i === 'string' ? { text: i } : i)),
      };
    }
    return multipartBody(targets ?? [], inputs, fields);
  }

  /**
   * A task with its timeline, and its result when it succeeded. With `waitMs` the server holds
   * the request until the task is final or that long has passed (capped by its `api.maxWait`).
   */
  async get(id: string, options: ReadOptions = {}): Promise<Task> {
    return this.http.json<Task>(`/v1/tasks/${encodeURIComponent(id)}`, readOptions(options));
  }

  /** One page of the caller's tasks, newest first. */
  async listPage(filter: TaskFilter & { cursor?: string } = {}): Promise<TaskListPage> {
    return this.http.json<TaskListPage>('/v1/tasks', { query: filter });
  }

  /** Every task matching `filter`, newest first, fetched page by page as the loop goes. */
  async *list(filter: TaskFilter = {}): AsyncGenerator<Task> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage({ ...filter, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * The result of a succeeded task; `INFERQ_RESULT_NOT_READY` or `INFERQ_TASK_FAILED` otherwise.
   * With `waitMs` the server holds the request until the task is final or that long has passed.
   */
  async result(id: string, options: ReadOptions = {}): Promise<TaskResult> {
    return this.http.json<TaskResult>(`/v1/tasks/${encodeURIComponent(id)}/result`, readOptions(options));
  }

  /** The original input bytes. */
  async input(id: string): Promise<Blob> {
    return (await this.http.send(`/v1/tasks/${encodeURIComponent(id)}/input`)).blob();
  }

  /** Cancels a queued or running task; `purge` also deletes it (whatever its state). */
  async cancel(id: string, options: { purge?: boolean } = {}): Promise<CancelResult> {
    return this.http.json<CancelResult>(`/v1/tasks/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      query: { purge: options.purge === true ? 'true' : undefined },
    });
  }

  /** Stores the user's feedback on a result. */
  async feedback(id: string, feedback: unknown): Promise<FeedbackResult> {
    return this.http.json<FeedbackResult>(`/v1/tasks/${encodeURIComponent(id)}/feedback`, {
      method: 'POST',
      body: { feedback },
    });
  }

  async models(): Promise<Models> {
    return this.http.json<Models>('/v1/models');
  }

  async stats(options: { windowSeconds?: number; all?: boolean } = {}): Promise<Stats> {
    return this.http.json<Stats>('/v1/stats', { query: options });
  }

  /** Backlog now and outcomes over the last `windowSeconds` (default 300), per model and in total. */
  async overview(options: { windowSeconds?: number; all?: boolean } = {}): Promise<StatsOverview> {
    return this.http.json<StatsOverview>('/v1/stats/overview', { query: options });
  }

  /**
   * Throughput, error rate, latency percentiles and batch sizes per time bucket over the last
   * `windowSeconds` (default 1 h, buckets of window / 60), read from the task store.
   */
  async statsHistory(
    options: { windowSeconds?: number; bucketSeconds?: number; all?: boolean } = {},
  ): Promise<StatsHistory> {
    return this.http.json<StatsHistory>('/v1/stats/history', { query: options });
  }

  /** Per model: queue wait, batch wait, compute and total latency over the last `windowSeconds` (default 900). */
  async modelStats(options: { windowSeconds?: number; all?: boolean } = {}): Promise<LatencyBreakdown> {
    return this.http.json<LatencyBreakdown>('/v1/stats/models', { query: options });
  }

  /**
   * Live stats (`GET /v1/stats/events`): a snapshot at once, then one whenever it changes
   * (every `intervalMs` at most). Runs until `signal` aborts; a broken stream is reopened after
   * `retryMs` (default 2 s), as a browser's EventSource would, but with the Authorization header
   * an EventSource cannot send. Auth and validation errors (4xx) end it with the error.
   */
  async *statsEvents(
    options: {
      windowSeconds?: number;
      bucketSeconds?: number;
      intervalMs?: number;
      all?: boolean;
      retryMs?: number;
      signal?: AbortSignal;
    } = {},
  ): AsyncGenerator<StatsSnapshot> {
    const { retryMs = 2_000, signal, ...query } = options;
    while (!signal?.aborted) {
      try {
        const response = await this.http.send('/v1/stats/events', {
          headers: { accept: 'text/event-stream' },
          query,
          ...(signal ? { signal } : {}),
        });
        if (response.body !== null) {
          for await (const event of readEvents(response.body)) {
            if (event.event === 'stats') yield JSON.parse(event.data) as StatsSnapshot;
          }
        }
      } catch (err) {
        if (signal?.aborted) return;
        if (isPermanent(err)) {
          throw err;
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  }

  /** Workers and their heartbeats (admin). */
  async workers(): Promise<Workers> {
    return this.http.json<Workers>('/v1/workers');
  }

  /** Every tenant with its fair-share weight and limits (admin key). */
  async tenants(): Promise<Tenants> {
    return this.http.json<Tenants>('/v1/tenants');
  }

  /** One tenant's weight and limits (admin key); INFERQ_TENANT_NOT_FOUND when there is none. */
  async tenant(id: string): Promise<Tenant> {
    return this.http.json<Tenant>(`/v1/tenants/${encodeURIComponent(id)}`);
  }

  /**
   * Sets a tenant's fair-share weight and limits (admin key): `{ weight: 2 }` gives it twice the
   * share of a queue of a weight-1 tenant while both have backlog; null sets a value back to the
   * default. Answers the tenant as it now is.
   */
  async setTenant(id: string, settings: TenantSettings): Promise<Tenant> {
    return this.http.json<Tenant>(`/v1/tenants/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: settings,
    });
  }

  /** Your tenant's webhook signing secret and how signatures are made (see verifyWebhook). */
  async webhookSecret(): Promise<WebhookSecretInfo> {
    return this.http.json<WebhookSecretInfo>('/v1/webhooks/secret');
  }

  /**
   * Replaces a tenant's webhook secret (admin keys only): deliveries from now on are signed with
   * the new one. `tenant` defaults to the admin key's own.
   */
  async rotateWebhookSecret(options: { tenant?: string } = {}): Promise<WebhookSecretInfo> {
    const query = options.tenant === undefined ? '' : `?tenant=${encodeURIComponent(options.tenant)}`;
    return this.http.json<WebhookSecretInfo>(`/v1/webhooks/secret/rotate${query}`, { method: 'POST' });
  }

  /**
   * Every state a task passes through, ending with its final one (read with its result). Uses
   * the task's event stream; if the stream cannot be opened or breaks, polls instead.
   */
  async *watch(id: string, options: Omit<WaitOptions, 'onUpdate' | 'timeoutMs'> = {}): AsyncGenerator<Task> {
    let last: Task | undefined;
    try {
      const response = await this.http.send(`/v1/tasks/${encodeURIComponent(id)}/events`, {
        headers: { accept: 'text/event-stream' },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (response.body !== null) {
        for await (const event of readEvents(response.body)) {
          if (event.event !== 'state') continue;
          last = JSON.parse(event.data) as Task;
          if (isFinal(last)) break;
          yield last;
        }
      }
    } catch (err) {
      // A task that does not exist (or that the stream refused for auth) will not appear by polling.
      if (isPermanent(err)) {
        throw err;
      }
      if (options.signal?.aborted) throw err;
    }
    const signal = options.signal ? { signal: options.signal } : {};
    if (last !== undefined && isFinal(last)) {
      yield await this.get(id, signal);
      return;
    }
    // Polling fallback: the stream was unavailable or ended early (a proxy, a restart). Each
    // read waits on the server (`?wait=`) for up to one interval, so the final state comes as
    // soon as it is reached; a server that answered sooner (older than `wait`, or a lower
    // `api.maxWait`) is paced by sleeping the rest of the interval.
    const intervalMs = options.pollIntervalMs ?? 1_000;
    for (;;) {
      const started = Date.now();
      const task = await this.get(id, { ...signal, waitMs: intervalMs });
      if (last === undefined || task.state !== last.state || task.attempts !== last.attempts) yield task;
      last = task;
      if (isFinal(task)) return;
      await sleep(intervalMs - (Date.now() - started));
      if (options.signal?.aborted)
        throw new InferqClientError('INFERQ_CLIENT_ABORTED', 'the call was aborted');
    }
  }

  /**
   * The states of every task of one submission (`requestId`) as they change, until all are
   * final (listing views: no results). Event stream first; polling when it is unavailable.
   */
  async *watchRequest(
    requestId: string,
    options: Omit<WaitOptions, 'onUpdate' | 'timeoutMs'> = {},
  ): AsyncGenerator<Task> {
    const states = new Map<string, string>();
    const changed = (task: Task) => {
      const signature = `${task.state}:${task.attempts}`;
      if (states.get(task.id) === signature) return false;
      states.set(task.id, signature);
      return true;
    };
    try {
      const response = await this.http.send(`/v1/requests/${encodeURIComponent(requestId)}/events`, {
        headers: { accept: 'text/event-stream' },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (response.body !== null) {
        for await (const event of readEvents(response.body)) {
          if (event.event === 'end') return;
          if (event.event !== 'state') continue;
          const task = JSON.parse(event.data) as Task;
          if (changed(task)) yield task;
        }
      }
    } catch (err) {
      if (isPermanent(err)) {
        throw err;
      }
      if (options.signal?.aborted) throw err;
    }
    for (;;) {
      let allFinal = true;
      for await (const task of this.list({ requestId, limit: 1_000 })) {
        if (!isFinal(task)) allFinal = false;
        if (changed(task)) yield task;
      }
      if (allFinal) return;
      await sleep(options.pollIntervalMs ?? 1_000);
      if (options.signal?.aborted)
        throw new InferqClientError('INFERQ_CLIENT_ABORTED', 'the call was aborted');
    }
  }

  /** Resolves with the task once it is final (succeeded, failed or cancelled), result included. */
  async wait(id: string, options: WaitOptions = {}): Promise<Task> {
    const controller = new AbortController();
    const abort = () => controller.abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(abort, options.timeoutMs);
    try {
      let final: Task | undefined;
      for await (const task of this.watch(id, {
        signal: controller.signal,
        ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      })) {
        options.onUpdate?.(task);
        final = task;
      }
      return final!;
    } catch (err) {
      if (controller.signal.aborted && !options.signal?.aborted) {
        throw new InferqClientError(
          'INFERQ_CLIENT_TIMEOUT',
          `task ${id} was not final within ${options.timeoutMs} ms`,
          {
            details: { id, timeoutMs: options.timeoutMs },
            cause: err,
          },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
    }
  }
}

/** A client error other than 429: asking again cannot help, so a stream or a wait ends on it. */
function isPermanent(err: unknown): err is InferqClientError {
  return err instanceof InferqClientError && err.status >= 400 && err.status < 500 && err.status !== 429;
}
