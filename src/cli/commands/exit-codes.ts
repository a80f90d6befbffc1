import { isInferqClientError } from '../../client/index.js';
import { isInferqError } from '../../errors/index.js';

/**
 * Exit codes of the client commands (models, submit, tasks, stats), stable for scripts:
 * 0 ok · 1 other failure · 2 bad usage or configuration · 3 not authenticated or not allowed ·
 * 4 not found · 5 a task failed or was cancelled · 6 timed out waiting · 7 server unreachable.
 */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  taskFailed: 5,
  timeout: 6,
  unreachable: 7,
} as const;

export const exitCodesHelp = `
Exit codes:
  0 ok   1 failure   2 bad usage   3 auth (401/403)   4 not found
  5 a task failed or was cancelled   6 timed out waiting   7 server unreachable`;

/** The exit code for an error a client command threw. */
export function exitCodeFor(err: unknown): number {
  if (isInferqError(err)) {
    if (err.code.startsWith('INFERQ_CONFIG')) return exitCodes.usage;
    if (err.status === 401 || err.status === 403) return exitCodes.auth;
    if (err.status === 404) return exitCodes.notFound;
    return exitCodes.failure;
  }
  if (!isInferqClientError(err)) return exitCodes.failure;
  if (err.code === 'INFERQ_CLIENT_NETWORK') return exitCodes.unreachable;
  if (err.code === 'INFERQ_CLIENT_TIMEOUT' || err.code === 'INFERQ_PREDICT_TIMEOUT') return exitCodes.timeout;
  if (err.code === 'INFERQ_TASK_FAILED') return exitCodes.taskFailed;
  if (err.status === 401 || err.status === 403) return exitCodes.auth;
  if (err.status === 404) return exitCodes.notFound;
  if (err.status === 400 || err.status === 413 || err.status === 415) return exitCodes.usage;
  return exitCodes.failure;
}
