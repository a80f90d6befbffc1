import { createHmac } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Agent, fetch } from 'undici';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.js';
import type { Task } from '../../core/task.js';
import type { AuthStore } from '../../store/auth-store.js';
import type { TaskStore, WebhookOutcome } from '../../store/task-store.js';
import type { Clock } from '../app-deps.js';
import { taskView } from '../task-view.js';
import { checkCallbackUrl, guardedConnector } from './callback-url.js';

/** The request header that carries a delivery's signature. */
export const webhookSignatureHeader = 'inferq-signature';

/** How a signature is made, as `GET /v1/webhooks/secret` tells receivers. */
export const webhookSignatureScheme =
  't=<unix seconds>,v1=<hex HMAC-SHA256, keyed with the secret, of "<t>.<raw request body>">';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe-style receivers expect. */
export function signWebhook(secret: string, body: string, atMs: number): string {
  const t = Math.floor(atMs / 1_000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export interface WebhookDispatcherOptions {
  store: TaskStore;
  auth: AuthStore;
  logger: FastifyBaseLogger;
  allowPrivate: boolean;
  maxAttempts: number;
  clock?: Clock;
  backoff?: BackoffPolicy;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  batchSize?: number;
}

/**
 * Delivers final tasks to their callback URLs: POST of the task JSON, signed with the tenant's
 * secret (`inferq-signature`), retried with exponential backoff up to `maxAttempts`; each
 * attempt is recorded on the task. Delivery state lives in the store, so any API host may run a
 * dispatcher and a restart resumes where it stopped (at-least-once: receivers dedupe by
 * `inferq-delivery-id`).
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #clock: Clock;
  readonly #agent: Agent;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#agent = new Agent({ connect: guardedConnector(options.allowPrivate) });
  }

  /** Delivers what is due now; returns how many attempts were made. */
  async deliverDue(): Promise<number> {
    // Claimed for longer than an attempt can take, so no other API host delivers it meanwhile.
    const claimMs = 6 * (this.#options.timeoutMs ?? 10_000);
    const due = await this.#options.store.dueWebhooks(this.#clock(), this.#options.batchSize ?? 20, claimMs);
    await Promise.all(due.map((task) => this.#deliver(task)));
    return due.length;
  }

  /** Polls every `intervalMs` until {@link stop}. */
  start(intervalMs = 1_000): void {
    const tick = () => {
      this.#running = this.deliverDue().catch((err) => {
        this.#options.logger.error({ err }, 'webhook delivery pass failed');
        return 0;
      });
      void this.#running.then(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(tick, intervalMs);
      });
    };
    this.#timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.#agent.close();
  }

  async #deliver(task: Task): Promise<void> {
    const { store, auth, logger } = this.#options;
    const delivery = await store.getWebhookDelivery(task.id);
    const attempt = (delivery?.attempts.length ?? 0) + 1;
    const started = this.#clock();
    const body = JSON.stringify(taskView(task, { withResult: true }));
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const url = checkCallbackUrl(task.callbackUrl!, this.#options.allowPrivate);
      const tenant = await auth.ensureTenant(task.owner);
      const response = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'inferq-webhook/1',
          [webhookSignatureHeader]: signWebhook(tenant.webhookSecret, body, started),
          'inferq-delivery-id': task.id,
          'inferq-delivery-attempt': String(attempt),
        },
      });
      statusCode = response.status;
      await response.body?.cancel();
      if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause;
      error = cause?.message ?? (err as Error).message;
    }
    const outcome: WebhookOutcome =
      error === null
        ? { state: 'delivered' }
        : attempt >= this.#options.maxAttempts
          ? { state: 'failed' }
          : { state: 'pending', nextAt: this.#clock() + backoffDelay(attempt, this.#options.backoff) };
    await store.recordWebhookAttempt(
      task.id,
      { attempt, at: started, statusCode, error, durationMs: this.#clock() - started },
      outcome,
    );
    if (error !== null)
      logger.warn({ taskId: task.id, attempt, error, outcome: outcome.state }, 'webhook delivery failed');
  }
}
