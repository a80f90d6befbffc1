import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferqError } from '../errors/index.js';
import { decodeResponse, type EncodedRequest, encodeRequest, type V2Response } from './kserve-v2.js';
import type { ResolvedModel } from './model-repository.js';
import { numberSetting } from './model-settings.js';
import type { ModelInput, PredictOptions, PredictParams, PredictResult, Runtime } from './runtime.js';
import { cancelled } from './stop-signals.js';

/** Settings of an `http` model, from model.yaml `options` (and `timeoutMs`). */
interface HttpSettings {
  base: URL;
  remoteName: string;
  remoteVersion: string | undefined;
  inputName: string;
  binaryData: boolean;
  readyCheck: boolean;
  headers: Record<string, string>;
  /** Per attempt. */
  timeoutMs: number;
  retries: number;
  retryBackoffMs: number;
}

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

// Answers that say "try again": overload, a gateway in trouble, the model restarting.
const retryableStatus = new Set([408, 429, 502, 503, 504]);

/**
 * A model served elsewhere, spoken to with KServe v2 / Open Inference Protocol
 * (`POST {url}/v2/models/{name}[/versions/{v}]/infer`): Triton, KServe, Seldon MLServer,
 * TorchServe's v2 mode… Each item is its own request, all of a batch in flight at once over
 * a keep-alive pool of `connections` sockets (default 8), so one bad item fails alone.
 * Each attempt is bounded by `timeoutMs` (default 30 s); refused connections, resets,
 * timeouts and 408/429/502/503/504 answers are retried `retries` times (default 2) with
 * exponential backoff from `retryBackoffMs` (default 100), honouring `Retry-After`.
 *
 * model.yaml `options`: `url` (required), `model` (remote name, default the model's name),
 * `version`, `inputName` (default `input-0`), `binaryData` (default true), `readyCheck`
 * (default true: `load()` asks `/ready`), `headers`, `retries`, `retryBackoffMs`, `connections`.
 */
export class HttpRuntime implements Runtime {
  private agent: http.Agent | undefined;
  private readonly settings: HttpSettings;
  private requestCount = 0;

  constructor(readonly model: ResolvedModel) {
    this.settings = readSettings(model);
  }

  async load(): Promise<void> {
    if (this.agent) return;
    const connections = numberSetting(this.model, 'connections', 8, { min: 1, max: 1024, integer: true });
    const Agent = this.settings.base.protocol === 'https:' ? https.Agent : http.Agent;
    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    if (this.settings.readyCheck) {
      let answer: HttpAnswer;
      try {
        answer = await this.send(agent, 'GET', this.path('ready'), undefined, undefined);
      } catch (cause) {
        agent.destroy();
        throw new InferqError(
          'INFERQ_MODEL_LOAD_FAILED',
          `${this.model.ref}: ${this.path('ready').href} is unreachable: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (answer.status !== 200) {
        agent.destroy();
        throw new InferqError(
          'INFERQ_MODEL_LOAD_FAILED',
          `${this.model.ref}: ${this.path('ready').href} answered ${answer.status}, the remote model is not ready`,
          { details: { httpStatus: answer.status } },
        );
      }
    }
    this.agent = agent;
  }

  async predict(
    batch: readonly ModelInput[],
    params: PredictParams = {},
    options: PredictOptions = {},
  ): Promise<PredictResult[]> {
    const agent = this.agent;
    if (!agent) throw new InferqError('INFERQ_MODEL_NOT_LOADED', `${this.model.ref} is not loaded`);
    if (options.signal?.aborted) throw cancelled(this.model.ref);
    const results = await Promise.all(
      batch.map(async (input): Promise<PredictResult> => {
        try {
          return { ok: true, output: await this.inferOne(agent, input, params, options.signal) };
        } catch (err) {
          if (options.signal?.aborted) throw cancelled(this.model.ref);
          return { ok: false, error: err as InferqError };
        }
      }),
    );
    return results;
  }

  async unload(): Promise<void> {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private async inferOne(
    agent: http.Agent,
    input: ModelInput,
    params: PredictParams,
    signal: AbortSignal | undefined,
  ): Promise<V2Response> {
    const s = this.settings;
    let request: EncodedRequest;
    try {
      request = encodeRequest(input, params, `${this.model.ref}-${++this.requestCount}`, s);
    } catch (cause) {
      throw new InferqError(
        'INFERQ_INPUT_UNDECODABLE',
        `cannot encode the input: ${(cause as Error).message}`,
        { cause },
      );
    }
    const url = this.path('infer');
    for (let attempt = 1; ; attempt++) {
      let answer: HttpAnswer | undefined;
      let failure: unknown;
      try {
        answer = await this.send(agent, 'POST', url, request, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        failure = err;
      }
      if (answer?.status === 200) return this.parse(answer);
      const retryable = answer === undefined || retryableStatus.has(answer.status);
      if (!retryable || attempt > s.retries) throw this.failure(answer, failure, attempt);
      await sleep(this.backoff(attempt, answer), undefined, signal ? { signal } : {});
    }
  }

  private parse(answer: HttpAnswer): V2Response {
    const header = answer.headers['inference-header-content-length'];
    try {
      return decodeResponse(answer.body, typeof header === 'string' ? Number(header) : undefined);
    } catch (cause) {
      throw new InferqError(
        'INFERQ_REMOTE_MODEL_FAILED',
        `${this.model.ref}: the remote answer is not a v2 infer response: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  private failure(answer: HttpAnswer | undefined, cause: unknown, attempts: number): InferqError {
    if (answer === undefined) {
      const timedOut = (cause as Error | undefined)?.name === 'TimeoutError';
      return new InferqError(
        timedOut ? 'INFERQ_WORK_TIMEOUT' : 'INFERQ_REMOTE_MODEL_FAILED',
        timedOut
          ? `${this.model.ref}: no answer within ${this.settings.timeoutMs} ms (${attempts} attempts)`
          : `${this.model.ref}: ${(cause as Error).message} (${attempts} attempts)`,
        { cause, details: { attempts } },
      );
    }
    const remote = remoteError(answer.body);
    // A 4xx other than overload says the input is wrong: retrying the job cannot help.
    const badInput = answer.status >= 400 && answer.status < 500 && !retryableStatus.has(answer.status);
    return new InferqError(
      'INFERQ_REMOTE_MODEL_FAILED',
      `${this.model.ref}: the remote model answered ${answer.status}${remote ? `: ${remote}` : ''}`,
      { status: badInput ? 422 : 502, details: { httpStatus: answer.status, attempts } },
    );
  }

  private backoff(attempt: number, answer: HttpAnswer | undefined): number {
    const retryAfter = Number(answer?.headers['retry-after']);
    if (Number.isFinite(retryAfter) && retryAfter >= 0) return Math.min(retryAfter * 1000, 30_000);
    const base = this.settings.retryBackoffMs * 2 ** (attempt - 1);
    // Jitter, so a fleet of workers does not come back in lockstep.
    return base / 2 + Math.random() * (base / 2);
  }

  private path(action: 'infer' | 'ready'): URL {
    const s = this.settings;
    const version = s.remoteVersion === undefined ? '' : `/versions/${encodeURIComponent(s.remoteVersion)}`;
    return new URL(`v2/models/${encodeURIComponent(s.remoteName)}${version}/${action}`, s.base);
  }

  private send(
    agent: http.Agent,
    method: 'GET' | 'POST',
    url: URL,
    request: EncodedRequest | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(
        url,
        {
          method,
          agent,
          signal: combined,
          headers: {
            ...this.settings.headers,
            ...request?.headers,
            ...(request ? { 'content-length': String(request.body.byteLength) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err) => reject(timeout.aborted && !signal?.aborted ? timeout.reason : err));
      req.end(request?.body);
    });
  }
}

function remoteError(body: Buffer): string | undefined {
  const text = body.toString('utf8').slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: show the start of it
  }
  return text.trim() || undefined;
}

function readSettings(model: ResolvedModel): HttpSettings {
  const o = model.spec.options ?? {};
  const fail = (key: string, problem: string) =>
    new InferqError('INFERQ_MODEL_SPEC_INVALID', `${model.specPath}: key "options.${key}" ${problem}`, {
      details: { file: model.specPath, key: `options.${key}`, value: o[key] },
    });
  let base: URL;
  try {
    base = new URL(String(o.url));
  } catch {
    throw fail('url', 'must be an absolute http(s) URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw fail('url', 'must be an http(s) URL');
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const text = (key: string, fallback: string | undefined) => {
    const value = o[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value === '') throw fail(key, 'must be a non-empty string');
    return value;
  };
  const flag = (key: string, fallback: boolean) => {
    const value = o[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw fail(key, 'must be true or false');
    return value;
  };
  const headers = o.headers ?? {};
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Object.values(headers).some((v) => typeof v !== 'string')
  ) {
    throw fail('headers', 'must map header names to strings');
  }
  return {
    base,
    remoteName: text('model', model.spec.name)!,
    remoteVersion: text('version', undefined),
    inputName: text('inputName', 'input-0')!,
    binaryData: flag('binaryData', true),
    readyCheck: flag('readyCheck', true),
    headers: headers as Record<string, string>,
    timeoutMs: model.spec.timeoutMs ?? 30_000,
    retries: numberSetting(model, 'retries', 2, { min: 0, max: 10, integer: true }),
    retryBackoffMs: numberSetting(model, 'retryBackoffMs', 100, { min: 0, max: 60_000 }),
  };
}
