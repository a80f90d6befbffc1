import { createHmac } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Agent, fetch } from 'undici';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.js';
import type { Task } from '../../core/task.js';
import type { AuthStore } from '../../store/auth-store.js';
import type { WebhookDeliveries, WebhookOutcome } from '../../store/webhook-deliveries.js';
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
  /** The deliveries: claimed when due, attempts recorded (the task store's webhook role). */
  store: WebhookDeliveries;
  auth: AuthStore;
  logger: FastifyBaseLogger;
  allowPrivate: boolean;
  maxAttempts: number;
  clock?: Clock;
  backoff?: BackoffPolicy;
  /** Per attempt, until the response headers. Default 10 s. */
  timeoutMs?: number;
  /** To open the TCP (and TLS) connection; shorter, so a black-holed host fails fast. Default 3 s. */
  connectTimeoutMs?: number;
  /** Deliveries claimed per poll. Default 20. */
  batchSize?: number;
  /** Deliveries in flight per tenant; a tenant at it is left out of the next claim. Default 4. */
  perTenant?: number;
  /** Connections per callback origin (scheme, host, port). Default 8. */
  perHost?: number;
  /** Deliveries in flight on this host in all. Default 64. */
  maxInFlight?: number;
}

/**
 * Delivers final tasks to their callback URLs: POST of the task JSON, signed with the tenant's
 * secret (`inferq-signature`), retried with exponential backoff up to `maxAttempts`; each
 * attempt is recorded on the task. Delivery state lives in the store, so any API host may run a
 * dispatcher and a restart resumes where it stopped (at-least-once: receivers dedupe by
 * `inferq-delivery-id`).
 *
 * Deliveries run independently: a poll claims what is due and starts it without waiting for
 * the poll before to finish, so one tenant's unresponsive hosts cannot hold back another
 * tenant's webhook. Each tenant has at most `perTenant` deliveries in flight — a tenant at its
 * limit is left out of the claim, and what it had claimed beyond the limit waits in its own
 * local queue — and each callback origin at most `perHost` connections.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #clock: Clock;
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #perTenant: number;
  /** Per tenant: deliveries running, and claimed ones waiting for a slot. */
  readonly #tenants = new Map<string, { running: number; waiting: Array<() => void> }>();
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<unknown> | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#perTenant = options.perTenant ?? 4;
    const connectTimeoutMs = Math.min(options.connectTimeoutMs ?? 3_000, this.#timeoutMs);
    this.#agent = new Agent({
      connect: guardedConnector(options.allowPrivate, { connectTimeoutMs }),
      connections: options.perHost ?? 8,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
    });
  }

  /** Claims what is due now and delivers it; resolves when those attempts are recorded. */
  async deliverDue(): Promise<number> {
    const started = await this.#claimAndStart();
    await Promise.all(started);
    return started.length;
  }

  /**
   * Polls every `intervalMs` until {@link stop}; deliveries run on without blocking the polls. A
   * poll that filled its batch is followed at once by the next: what it claimed may have put a
   * tenant at its limit, and the next claim, leaving that tenant out, reaches the others.
   */
  start(intervalMs = 1_000): void {
    const tick = () => {
      const polling = this.#claimAndStart().then(
        (started) => started.length,
        (err: unknown) => {
          this.#options.logger.error({ err }, 'webhook delivery poll failed');
          return 0;
        },
      );
      this.#polling = polling;
      void polling.then((claimed) => {
        const full = claimed > 0 && claimed >= (this.#options.batchSize ?? 20);
        if (this.#timer !== undefined) this.#timer = setTimeout(tick, full ? 0 : intervalMs);
      });
    };
    this.#timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
    await Promise.all(this.#inFlight);
    await this.#agent.close();
  }

  async #claimAndStart(): Promise<Array<Promise<void>>> {
    const room = (this.#options.maxInFlight ?? 64) - this.#inFlight.size;
    if (room <= 0) return [];
    const busy = [...this.#tenants].filter(([, t]) => t.running >= this.#perTenant).map(([owner]) => owner);
    const batch = Math.min(room, this.#options.batchSize ?? 20);
    // A claim must outlast its wait: all of a batch may belong to one tenant, run `perTenant` at
    // a time behind what that tenant already holds, each attempt bounded by the timeout.
    const claimMs = this.#timeoutMs * (Math.ceil((batch + this.#perTenant) / this.#perTenant) + 1);
    const due = await this.#options.store.dueWebhooks(this.#clock(), batch, claimMs, busy);
    return due.map((task) => {
      const run = this.#inTenantSlot(task.owner, () => this.#deliver(task)).catch((err: unknown) => {
        this.#options.logger.error({ err, taskId: task.id }, 'webhook delivery failed to record');
      });
      this.#inFlight.add(run);
      void run.then(() => this.#inFlight.delete(run));
      return run;
    });
  }

  async #inTenantSlot(owner: string, work: () => Promise<void>): Promise<void> {
    let tenant = this.#tenants.get(owner);
    if (tenant === undefined) {
      tenant = { running: 0, waiting: [] };
      this.#tenants.set(owner, tenant);
    }
    if (tenant.running >= this.#perTenant) {
      await new Promise<void>((resolve) => tenant.waiting.push(resolve));
    } else {
      tenant.running += 1;
    }
    try {
      await work();
    } finally {
      const next = tenant.waiting.shift();
      if (next !== undefined)
        next(); // the slot passes on as is
      else {
        tenant.running -= 1;
        if (tenant.running === 0) this.#tenants.delete(owner);
      }
    }
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
        signal: AbortSignal.timeout(this.#timeoutMs),
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
