import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InferqError, isInferqError } from '../errors/index.js';
import { fromFrameworkError } from './client-error.js';
import { isOipPath } from './schemas/common.js';

/**
 * Turns whatever a route threw into the one public error shape. `bodyLimit` (the server's, in
 * bytes) goes into the answer to a body that exceeds it.
 */
export function toInferqError(err: unknown, bodyLimit?: number, limitName?: string): InferqError {
  if (isInferqError(err)) return err;
  const fastifyError = err as Partial<FastifyError> & { validation?: unknown[] };
  if (Array.isArray(fastifyError.validation)) {
    const first = fastifyError.validation[0] as ValidationProblem | undefined;
    const where = fastifyError.validationContext ?? 'body';
    const missing = first?.params?.missingProperty;
    const pointer = `${first?.instancePath ?? ''}${typeof missing === 'string' ? `/${missing}` : ''}`;
    const property = first?.params?.additionalProperty;
    const path = `${where}${pointer}${typeof property === 'string' ? `/${property}` : ''}`;
    return new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `${path} ${validationMessage(fastifyError.validation, where)}`,
      {
        cause: err,
        details: { path, location: where, problems: fastifyError.validation.slice(0, 10) },
      },
    );
  }
  const framework = fromFrameworkError(err, bodyLimit, limitName);
  if (framework) return framework;
  return new InferqError('INFERQ_INTERNAL', 'an unexpected error happened; the server log has the details', {
    cause: err,
  });
}

interface ValidationProblem {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * What is wrong, said so that the caller knows what to send instead. Ajv's own words for two
 * common mistakes do not: a value outside a set of literals (a union of constants, such as a task
 * state) reads "must be equal to constant" once per literal, and a parameter the route does not
 * know reads "must NOT have additional properties".
 */
function validationMessage(problems: readonly unknown[], where: string): string {
  const first = problems[0] as ValidationProblem | undefined;
  if (first?.keyword === 'additionalProperties') {
    const kind =
      where === 'querystring' ? 'query parameter' : where === 'params' ? 'path parameter' : 'field';
    return `is not a known ${kind} (the API reference at /docs lists them)`;
  }
  if (first?.keyword === 'const') {
    const allowed = new Set<string>();
    for (const problem of problems as ValidationProblem[]) {
      if (problem.keyword === 'const' && problem.instancePath === first.instancePath) {
        allowed.add(JSON.stringify(problem.params?.allowedValue));
      }
    }
    if (allowed.size > 1) return `must be one of ${[...allowed].join(', ')}`;
  }
  return first?.message ?? 'is invalid';
}

/** 5xx answers that report an outcome the caller asked for rather than a fault of the server. */
const expectedServerErrors = new Set([
  'INFERQ_PREDICT_TIMEOUT',
  'INFERQ_FAST_PATH_BUSY',
  'INFERQ_FAST_PATH_TIMEOUT',
]);

/** Error handler: InferqError as is, validation with its JSON path, anything else logged as INTERNAL. */
export function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // The route's own limit where it has one (a route that needs no key takes less).
  const serverLimit = request.server?.initialConfig.bodyLimit;
  const routeLimit = request.routeOptions?.bodyLimit ?? serverLimit;
  const error = toInferqError(
    err,
    routeLimit,
    routeLimit === serverLimit ? 'server.bodyLimitBytes' : 'the limit of routes that need no key',
  );
  // A server fault is logged with its stack; a predict that outlived the caller's own timeout
  // (504) is an answer, not a fault.
  if (error.code === 'INFERQ_INTERNAL' || (error.status >= 500 && !expectedServerErrors.has(error.code))) {
    request.log.error({ err, reqId: request.id }, 'request failed');
  }
  if (
    error.code === 'INFERQ_RATE_LIMITED' ||
    error.code === 'INFERQ_QUEUE_LIMIT_REACHED' ||
    error.code === 'INFERQ_FAST_PATH_BUSY' ||
    error.code === 'INFERQ_BUFFERED_BYTES_LIMIT'
  ) {
    const retryAfterMs = Number(error.details?.retryAfterMs ?? 1_000);
    reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1_000))));
  }
  const body = error.toJSON();
  // A validation error's problems can quote the input back; keep the public details short.
  if (error.code === 'INFERQ_INTERNAL') delete body.error.details;
  if (isOipPath(request.url)) {
    // The protocol's shape: tritonclient raises an unprintable exception on an object `error`.
    // Plain `application/json`, no charset (Fastify adds one to a string or an object, not to
    // bytes): kserve's InferenceRESTClient reads `error` only where the Content-Type is exactly
    // that, as KServe's own server sends it.
    const { message, ...rest } = body.error;
    return reply
      .status(error.status)
      .type('application/json')
      .send(Buffer.from(JSON.stringify({ error: message, ...rest })));
  }
  return reply.status(error.status).send(body);
}
