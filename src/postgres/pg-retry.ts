import { setTimeout as sleep } from 'node:timers/promises';

/** Socket errors of a server that is restarting, unreachable for a moment, or just gone. */
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that mean "the connection, not the statement, failed": class 08 (connection
 * exception), and 57P01-57P03 (administrator / crash shutdown, "the database system is starting
 * up" or "shutting down"). After any of them the transaction in flight was rolled back.
 */
function isConnectionSqlState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

/** node-postgres reports a dropped socket or a connect timeout by message only. */
const messagePatterns = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error/,
];

/**
 * Whether `err` is a lost or refused connection (a server restart, a failover, a network cut)
 * rather than something the statement did: the one kind of failure worth trying again.
 */
export function isPgConnectionError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (
    typeof code === 'string' &&
    (socketCodes.has(code) || (code.length === 5 && isConnectionSqlState(code)))
  ) {
    return true;
  }
  return typeof message === 'string' && messagePatterns.some((p) => p.test(message));
}

/**
 * Runs `attempt` again while it fails with a connection error, backing off 50 ms → 1 s, for at
 * most `budgetMs` in all; then the last error propagates. Only for work that is safe to repeat:
 * a connect, or a transaction whose COMMIT was never sent (PostgreSQL rolled it back).
 */
export async function retryOnConnectionError<T>(
  attempt: () => Promise<T>,
  budgetMs: number,
  stop: () => boolean = () => false,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let pause = 50;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!isPgConnectionError(err) || stop() || Date.now() + pause > deadline) throw err;
    }
    await sleep(pause);
    pause = Math.min(1_000, pause * 2);
  }
}
