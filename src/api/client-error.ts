import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type ErrorCode, InferqError } from '../errors/index.js';

/**
 * The one map from errors that Fastify, its plugins (@fastify/multipart, @fastify/static under
 * /docs) and Node's HTTP parser raise to inferq's documented codes. The error handler and the
 * socket-level `clientError` answer both use it, so a bad request gets the same
 * `{ error: { code, message } }` whether it failed in a route, in the router or in the parser.
 */

/** Fastify and @fastify/multipart codes that mean "the body itself is broken". */
const malformedBodyCodes = new Set([
  'FST_ERR_CTP_EMPTY_JSON_BODY',
  'FST_ERR_CTP_INVALID_JSON_BODY',
  'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
  'FST_INVALID_MULTIPART_CONTENT_TYPE',
  'FST_INVALID_JSON_FIELD_ERROR',
  'FST_MP_PREMATURE_CLOSE',
  'FST_PROTO_VIOLATION',
  'FST_PARTS_LIMIT',
  'FST_FIELDS_LIMIT',
]);

const badUrlMessage =
  'the URL is not valid: a % must be followed by two hex digits (percent-encoding), and control characters such as NUL are not allowed; encode the path and query as RFC 3986 says';

/**
 * An inferq error for an error a framework component raised, by its `code` first and by its
 * HTTP status otherwise; `undefined` for anything else (a fault of the server). `bodyLimit` (the
 * server's, in bytes) goes into the answer to a body that exceeds it.
 */
export function fromFrameworkError(
  err: unknown,
  bodyLimit?: number,
  limitName = 'server.bodyLimitBytes',
): InferqError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, statusCode, status, message } = err as {
    code?: unknown;
    statusCode?: unknown;
    status?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' && message !== '' ? message : 'the request is malformed';
  if (typeof code === 'string') {
    if (malformedBodyCodes.has(code)) return new InferqError('INFERQ_BODY_MALFORMED', text, { cause: err });
    switch (code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
      case 'FST_REQ_FILE_TOO_LARGE': {
        const limit = bodyLimit === undefined ? '' : ` of ${bodyLimit} bytes (${limitName})`;
        return new InferqError(
          'INFERQ_INPUT_TOO_LARGE',
          `the JSON body exceeds the server's limit${limit}; send large inputs as multipart/form-data files, which are streamed and limited per model instead`,
          { cause: err, ...(bodyLimit === undefined ? {} : { details: { limit: bodyLimit } }) },
        );
      }
      case 'FST_FILES_LIMIT':
        return new InferqError('INFERQ_TOO_MANY_INPUTS', 'the request has more files than allowed', {
          cause: err,
        });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return new InferqError(
          'INFERQ_MEDIA_TYPE_UNSUPPORTED',
          'send application/json or multipart/form-data',
          {
            cause: err,
          },
        );
      case 'FST_ERR_BAD_URL':
      case 'FST_ERR_INVALID_URL':
        return new InferqError('INFERQ_URL_INVALID', badUrlMessage, { cause: err });
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return new InferqError(
          'INFERQ_URL_TOO_LONG',
          `a path segment (such as an id) is longer than ${maxParamLength} characters; no id inferq issues is that long`,
          { cause: err, details: { limit: maxParamLength } },
        );
      case 'FST_STATIC_FORBIDDEN_PATH':
        return new InferqError(
          'INFERQ_PATH_FORBIDDEN',
          'the path leaves the directory it serves (a .. segment or an encoded slash); request the file by its own path',
          { cause: err },
        );
      case 'FST_ERR_NOT_FOUND':
        return new InferqError('INFERQ_ROUTE_NOT_FOUND', 'no such route; /openapi.json lists them', {
          cause: err,
        });
    }
  }
  // Errors that carry only an HTTP status: @fastify/send's http-errors (a range past the end of a
  // file, a failed If-Match) and any other framework 4xx.
  const httpStatus = typeof statusCode === 'number' ? statusCode : typeof status === 'number' ? status : 0;
  if (httpStatus >= 400 && httpStatus < 500) {
    const byStatus = statusCodes[httpStatus] ?? 'INFERQ_REQUEST_MALFORMED';
    return new InferqError(byStatus, `${STATUS_CODES[httpStatus] ?? 'Bad Request'}: ${text}`, { cause: err });
  }
  return undefined;
}

/** Fastify's default, which `buildApp` keeps: the longest path parameter the router accepts. */
export const maxParamLength = 100;

const statusCodes: Partial<Record<number, ErrorCode>> = {
  400: 'INFERQ_REQUEST_MALFORMED',
  403: 'INFERQ_PATH_FORBIDDEN',
  404: 'INFERQ_ROUTE_NOT_FOUND',
  408: 'INFERQ_REQUEST_TIMEOUT',
  412: 'INFERQ_PRECONDITION_FAILED',
  413: 'INFERQ_INPUT_TOO_LARGE',
  414: 'INFERQ_URL_TOO_LONG',
  415: 'INFERQ_MEDIA_TYPE_UNSUPPORTED',
  416: 'INFERQ_RANGE_NOT_SATISFIABLE',
  431: 'INFERQ_HEADERS_TOO_LARGE',
};

/**
 * The error for a request Node's HTTP parser refused before Fastify saw it (`clientError`):
 * headers over `maxHeaderSize`, a URL with a byte no URL may hold, bytes that are not HTTP, a
 * request that took too long to arrive.
 */
export function fromParserError(
  err: NodeJS.ErrnoException & { reason?: unknown },
  maxHeaderSize: number,
): InferqError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new InferqError(
        'INFERQ_HEADERS_TOO_LARGE',
        `the request line and headers together exceed the server's limit of ${maxHeaderSize / 1024} KiB (${maxHeaderSize} bytes); send long values in the body, not the URL or a header`,
        { cause: err, details: { limit: maxHeaderSize } },
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return new InferqError('INFERQ_REQUEST_TIMEOUT', 'the request did not arrive in time; send it again', {
        cause: err,
      });
    case 'HPE_INVALID_URL':
      return new InferqError('INFERQ_URL_INVALID', badUrlMessage, { cause: err });
  }
  const reason = typeof err.reason === 'string' ? ` (${err.reason})` : '';
  return new InferqError('INFERQ_REQUEST_MALFORMED', `the request is not valid HTTP/1.1${reason}`, {
    cause: err,
  });
}

/**
 * Fastify's `clientErrorHandler` (bound to the instance): answers a request the parser refused
 * in the documented shape (Fastify's own answer is `{"error":"Bad Request","message":"Client
 * Error"}`), then closes the connection, whose bytes can no longer be trusted to frame a next
 * request. Logged at debug: it is the client's mistake, and anyone can send one.
 */
export function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error = fromParserError(err, maxHeaderSize);
  this.log.debug({ err, code: error.code }, 'client error');
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(error.toJSON());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
    () => socket.destroy(),
  );
}
