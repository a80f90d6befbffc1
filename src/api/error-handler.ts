import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InferqError, isInferqError } from '../errors/index.js';

/** Fastify and @fastify/multipart error codes that mean "the body itself is broken". */
const malformedBodyCodes = new Set([
  'FST_ERR_CTP_EMPTY_JSON_BODY',
  'FST_ERR_CTP_INVALID_JSON_BODY',
  'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
  'FST_INVALID_MULTIPART_CONTENT_TYPE',
  'FST_PROTO_VIOLATION',
  'FST_PARTS_LIMIT',
  'FST_FIELDS_LIMIT',
]);

/**
 * Turns whatever a route threw into the one public error shape. `bodyLimit` (the server's, in
 * bytes) goes into the answer to a body that exceeds it.
 */
export function toInferqError(err: unknown, bodyLimit?: number): InferqError {
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
  const code = fastifyError.code ?? '';
  if (malformedBodyCodes.has(code)) {
    return new InferqError('INFERQ_BODY_MALFORMED', fastifyError.message ?? 'the body is malformed', {
      cause: err,
    });
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE') {
    const limit = bodyLimit === undefined ? '' : ` of ${bodyLimit} bytes (server.bodyLimitBytes)`;
    return new InferqError(
      'INFERQ_INPUT_TOO_LARGE',
      `the request body exceeds the server's limit${limit}; send large inputs as multipart/form-data files, which are streamed and limited per model instead`,
      { cause: err, ...(bodyLimit === undefined ? {} : { details: { limit: bodyLimit } }) },
    );
  }
  if (code === 'FST_FILES_LIMIT') {
    return new InferqError('INFERQ_TOO_MANY_INPUTS', 'the request has more files than allowed', {
      cause: err,
    });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new InferqError('INFERQ_MEDIA_TYPE_UNSUPPORTED', 'send application/json or multipart/form-data', {
      cause: err,
    });
  }
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
const expectedServerErrors = new Set(['INFERQ_PREDICT_TIMEOUT', 'INFERQ_FAST_PATH_BUSY']);

/** Error handler: InferqError as is, validation with its JSON path, anything else logged as INTERNAL. */
export function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toInferqError(err, request.server?.initialConfig.bodyLimit);
  // A server fault is logged with its stack; a predict that outlived the caller's own timeout
  // (504) is an answer, not a fault.
  if (error.code === 'INFERQ_INTERNAL' || (error.status >= 500 && !expectedServerErrors.has(error.code))) {
    request.log.error({ err, reqId: request.id }, 'request failed');
  }
  if (
    error.code === 'INFERQ_RATE_LIMITED' ||
    error.code === 'INFERQ_QUEUE_LIMIT_REACHED' ||
    error.code === 'INFERQ_FAST_PATH_BUSY'
  ) {
    const retryAfterMs = Number(error.details?.retryAfterMs ?? 1_000);
    reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1_000))));
  }
  const body = error.toJSON();
  // A validation error's problems can quote the input back; keep the public details short.
  if (error.code === 'INFERQ_INTERNAL') delete body.error.details;
  return reply.status(error.status).send(body);
}
