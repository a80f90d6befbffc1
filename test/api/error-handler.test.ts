import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { handleError, toInferqError } from '../../src/api/error-handler.js';
import { InferqError } from '../../src/errors/index.js';

/** Runs handleError with a request whose logger records calls; returns them and the status. */
function handle(err: unknown): { logged: unknown[][]; status: number } {
  const error = vi.fn();
  const request = { id: 'req-1', log: { error } } as unknown as FastifyRequest;
  let status = 0;
  const reply = {
    header: () => reply,
    status: (code: number) => {
      status = code;
      return reply;
    },
    send: () => reply,
  } as unknown as FastifyReply;
  handleError(err, request, reply);
  return { logged: error.mock.calls, status };
}

describe('handleError logging', () => {
  it('logs server faults with their error, but not a predict that outlived its timeout', () => {
    expect(handle(new Error('boom'))).toMatchObject({
      status: 500,
      logged: [[expect.anything(), 'request failed']],
    });
    const down = handle(new InferqError('INFERQ_STORE_UNAVAILABLE', 'the store is down'));
    expect(down.status).toBe(503);
    expect(down.logged).toHaveLength(1);
    const timeout = handle(new InferqError('INFERQ_PREDICT_TIMEOUT', 'did not finish within 200 ms'));
    expect(timeout).toEqual({ status: 504, logged: [] });
    expect(handle(new InferqError('INFERQ_TASK_NOT_FOUND', 'no task'))).toEqual({ status: 404, logged: [] });
  });
});

describe('framework errors', () => {
  it('maps Fastify and plugin 4xx errors to documented codes by code, else by status, never logged', () => {
    const forbidden = Object.assign(new Error('Forbidden'), {
      code: 'FST_STATIC_FORBIDDEN_PATH',
      statusCode: 403,
    });
    expect(handle(forbidden)).toEqual({ status: 403, logged: [] });
    const range = Object.assign(new Error('Range Not Satisfiable'), { status: 416 });
    expect(handle(range)).toEqual({ status: 416, logged: [] });
    const unknown = Object.assign(new Error('something the client did'), {
      code: 'FST_ERR_NEW',
      statusCode: 409,
    });
    expect(handle(unknown)).toEqual({ status: 400, logged: [] });
    expect(toInferqError(unknown).code).toBe('INFERQ_REQUEST_MALFORMED');
    expect(toInferqError(Object.assign(new Error('x'), { code: 'FST_ERR_MAX_PARAM_LENGTH' })).code).toBe(
      'INFERQ_URL_TOO_LONG',
    );
  });
});
