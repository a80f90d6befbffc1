import { IncomingMessage } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InferqError } from '../errors/index.js';

/** The server's and each tenant's limit on the bytes of bodies held in memory at once. */
export interface BufferedBodyLimits {
  /** Every JSON body being received or handled, all tenants together. */
  maxTotal: number;
  /** One tenant's (the unauthenticated count under one name, ''). */
  maxPerTenant: number;
}

/**
 * Counts the bytes of JSON bodies held in memory, per server and per tenant. A JSON body is
 * buffered whole and grows several-fold as it is parsed (a 60 MiB body took 180 to 270 MiB), so
 * the per-request limit (`server.bodyLimitBytes`) alone does not bound memory: eight at once took
 * 713 MiB. Bytes are taken as they arrive, so a body that would break a limit is refused while
 * it streams (one whose declared length cannot fit, at once), and given back when its answer has
 * gone. Multipart files are not counted: they
 * stream into the blob store and are never held whole.
 */
export class BufferedBodyBudget {
  #total = 0;
  readonly #byTenant = new Map<string, number>();

  constructor(readonly limits: BufferedBodyLimits) {}

  /** Takes `bytes` for `tenant`; the limit that would break instead, taking nothing. */
  take(tenant: string, bytes: number): 'server' | 'tenant' | undefined {
    const refused = this.#wouldBreak(tenant, bytes);
    if (refused) return refused;
    this.#total += bytes;
    this.#byTenant.set(tenant, (this.#byTenant.get(tenant) ?? 0) + bytes);
    return undefined;
  }

  #wouldBreak(tenant: string, bytes: number): 'server' | 'tenant' | undefined {
    if ((this.#byTenant.get(tenant) ?? 0) + bytes > this.limits.maxPerTenant) return 'tenant';
    if (this.#total + bytes > this.limits.maxTotal) return 'server';
    return undefined;
  }

  release(tenant: string, bytes: number): void {
    this.#total -= bytes;
    const held = (this.#byTenant.get(tenant) ?? 0) - bytes;
    if (held > 0) this.#byTenant.set(tenant, held);
    else this.#byTenant.delete(tenant);
  }

  /** Bytes held now, all tenants together. */
  get held(): number {
    return this.#total;
  }

  /**
   * A `preParsing` hook that counts a non-multipart body's bytes against this budget as they
   * stream in, and gives them back once the answer has gone (or the connection closed).
   */
  preParsing(): (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: NodeJS.ReadableStream,
  ) => Promise<NodeJS.ReadableStream> {
    return async (request, reply, payload) => {
      // By the header: @fastify/multipart's isMultipart() is only known once its parser ran, and
      // that parser reads the raw request, not this hook's stream.
      if (/^multipart\//i.test(request.headers['content-type'] ?? '')) return payload;
      // A request without a body is left alone: piping it would consume the request stream, and
      // Node then emits the request's 'close' at once (an event stream listening on it ended).
      if (!hasBody(request)) return payload;
      const tenant = request.principal?.tenant ?? '';
      let taken = 0;
      let answered = false;
      const giveBack = () => {
        answered = true;
        this.release(tenant, taken);
        taken = 0;
      };
      // 'finish' once the answer is written, 'close' if the connection went first (inject()
      // emits only the first).
      reply.raw.once('finish', giveBack);
      reply.raw.once('close', giveBack);
      const budget = this;
      // A declared length that cannot fit now is refused before a byte of it is read. It is not
      // reserved: a client that declares 4 MiB and then stalls would hold the budget for nothing
      // (Fastify sets no request timeout), so only bytes that arrived count.
      const declared = Number(request.headers['content-length'] ?? 0);
      // Over the route's limit, Fastify refuses the body without reading it.
      if (declared > (request.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY)) return payload;
      if (declared > 0) {
        const refused = this.#wouldBreak(tenant, declared);
        if (refused) throw this.#refusal(refused, tenant, declared);
      }
      let received = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          // Bytes still arriving after the answer (Fastify refused the body midway) are dropped,
          // not counted: nothing would give them back.
          if (answered) return done();
          received += chunk.length;
          const refused = budget.take(tenant, chunk.length);
          if (refused) return done(budget.#refusal(refused, tenant, received));
          taken += chunk.length;
          done(null, chunk);
        },
      });
      linkBody(payload, counted);
      return counted;
    };
  }

  #refusal(limit: 'server' | 'tenant', tenant: string, bytes: number): InferqError {
    const [max, key, whose] =
      limit === 'tenant'
        ? [this.limits.maxPerTenant, 'server.maxBufferedBytesPerTenant', `tenant ${tenant || '(none)'}'s`]
        : [this.limits.maxTotal, 'server.maxBufferedBytes', "the server's"];
    return new InferqError(
      'INFERQ_BUFFERED_BYTES_LIMIT',
      `this body (${bytes} bytes) would take ${whose} JSON bodies held in memory past ${max} bytes (${key}); send large inputs as multipart/form-data files, which stream to storage, or retry when the other requests have finished`,
      { details: { limit: max, scope: limit, retryAfterMs: 1_000 } },
    );
  }
}

/** Whether a request carries a body at all (a length above 0, or chunked). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

/**
 * Pipes the request body into the counting stream and ties their ends together as
 * `stream.pipeline` would: an aborted upload (an error, or a close before the end) fails the
 * counter, so the body reader stops too; a refused body (the counter's error) destroys the
 * request. Not `pipeline` itself: at its end it aborts an AbortController of its own, which
 * builds a DOMException with a stack for every request with a body (~24 µs, 4% of the API
 * thread in bench/http).
 */
function linkBody(payload: NodeJS.ReadableStream, counted: Transform): void {
  const body = payload as NodeJS.ReadableStream & Partial<Pick<Readable, 'destroy' | 'readableEnded'>>;
  const fail = (err: Error): void => {
    if (!counted.destroyed) counted.destroy(err);
  };
  body.once('error', fail);
  body.once('close', () => {
    if (body.readableEnded === false) fail(prematureClose());
  });
  const stopBody = (err: Error): void => {
    if (body.readableEnded !== false) return;
    // As `pipeline` destroys a server request: detached from its socket first, so that the
    // refusal can still be answered on the connection.
    if (body instanceof IncomingMessage) (body as { socket: unknown }).socket = null;
    body.destroy?.(err);
  };
  counted.once('error', stopBody);
  // The counter closed before it had all the body (destroyed by its reader): the upload stops.
  counted.once('close', () => {
    if (!counted.writableFinished) stopBody(prematureClose());
  });
  body.pipe(counted);
}

/** The error `stream.pipeline` gives a stream that closed before its end. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
