import { InferqClientError } from './client-error.js';

/** How the client talks HTTP: base URL, credentials, retries. */
export interface HttpOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080` (without `/v1`). */
  url: string;
  /** An API key (`iq_…`) or a token from `POST /v1/auth/token`. */
  credential?: string;
  /** Attempts for a retryable failure (network error, 429, 502, 503, 504). Default 4. */
  maxAttempts?: number;
  /** First retry delay; doubles each time, capped at 5 s, or the server's Retry-After. Default 200 ms. */
  retryDelayMs?: number;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  method?: string;
  query?: Record<string, unknown>;
  /** A JSON value, or a FormData built afresh for every attempt. */
  body?: unknown | (() => FormData);
  headers?: Record<string, string>;
  /**
   * Whether a failed attempt may be sent again. GET, HEAD and DELETE are; POST is only with an
   * `Idempotency-Key` header (the server then answers a repeat with the first outcome).
   */
  retry?: boolean;
  signal?: AbortSignal;
}

const retryableStatuses = new Set([429, 502, 503, 504]);

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new InferqClientError('INFERQ_CLIENT_ABORTED', 'the call was aborted'));
      },
      { once: true },
    );
  });

/** Appends query members, skipping undefined and repeating array members (`state=a&state=b`). */
export function withQuery(url: string, query: Record<string, unknown> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const member of Array.isArray(value) ? value : [value]) params.append(key, String(member));
  }
  const text = params.toString();
  return text === '' ? url : `${url}?${text}`;
}

/** Reads an error answer: inferq's `{ error: { code, message, details } }`, or whatever came. */
export async function errorFrom(response: Response): Promise<InferqClientError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (typeof body.error?.code === 'string') {
      return new InferqClientError(body.error.code, String(body.error.message ?? body.error.code), {
        status: response.status,
        ...(body.error.details && typeof body.error.details === 'object'
          ? { details: body.error.details as Record<string, unknown> }
          : {}),
      });
    }
  } catch {
    // not JSON: reported below as a bad response
  }
  return new InferqClientError(
    'INFERQ_CLIENT_BAD_RESPONSE',
    `HTTP ${response.status} from ${response.url}: ${text.slice(0, 200)}`,
    { status: response.status },
  );
}

/** Low-level HTTP with credentials, error mapping and idempotent retries. */
export class HttpTransport {
  readonly baseUrl: string;
  credential: string | undefined;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(options: HttpOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.credential = options.credential;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Sends a request and returns the successful response (any 2xx); throws InferqClientError otherwise. */
  async send(path: string, options: RequestOptions = {}): Promise<Response> {
    const method = options.method ?? 'GET';
    const retry =
      options.retry ?? (method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'PUT');
    const url = withQuery(`${this.baseUrl}${path}`, options.query);
    let delay = this.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
      if (this.credential !== undefined) headers.authorization = `Bearer ${this.credential}`;
      let body: FormData | string | undefined;
      if (typeof options.body === 'function') body = (options.body as () => FormData)();
      else if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(options.body);
      }
      let response: Response;
      try {
        response = await this.fetchFn(url, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (cause) {
        if (options.signal?.aborted) {
          throw new InferqClientError('INFERQ_CLIENT_ABORTED', 'the call was aborted', { cause });
        }
        if (retry && attempt < this.maxAttempts) {
          await sleep(delay, options.signal);
          delay = Math.min(delay * 2, 5_000);
          continue;
        }
        throw new InferqClientError(
          'INFERQ_CLIENT_NETWORK',
          `${method} ${url} failed: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (response.ok) return response;
      if (retry && retryableStatuses.has(response.status) && attempt < this.maxAttempts) {
        const retryAfter = Number(response.headers.get('retry-after'));
        await response.body?.cancel().catch(() => {});
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1_000, 30_000) : delay,
          options.signal,
        );
        delay = Math.min(delay * 2, 5_000);
        continue;
      }
      throw await errorFrom(response);
    }
  }

  /** `send`, then the JSON body. */
  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(path, options);
    try {
      return (await response.json()) as T;
    } catch (cause) {
      throw new InferqClientError('INFERQ_CLIENT_BAD_RESPONSE', `${path} did not answer JSON`, {
        status: response.status,
        cause,
      });
    }
  }
}
