import { uuidv7 } from 'uuidv7';

/**
 * Time-sortable ids (UUIDv7): ids created later sort later, which keeps B-tree inserts
 * append-only and lets "newest first" pagination use the primary key.
 */
export function newId(): string {
  return uuidv7();
}

/**
 * How far a task's id time may run ahead of its `created_at`: the id is made on the writing host
 * just before the row is written, so by a few ms at most; the rest is room for clock steps.
 */
const idClockSlackMs = 60_000;

/**
 * A string that sorts after the id of every task created before `createdBefore` (ms), and before
 * most of those created later: the 48-bit time prefix of a UUIDv7 (`tttttttt-tttt`), plus
 * {@link idClockSlackMs}. A listing bounded by creation time adds `id < bound` to `created_at <
 * createdBefore`: it excludes nothing the time term keeps, and lets a newest-first walk of an
 * `(…, id)` index start at the range instead of reading every newer row. (Pipeline steps carry
 * their parent's older time, which keeps them under the bound too.)
 */
export function idUpperBound(createdBefore: number): string {
  const ms = Math.max(0, Math.min(createdBefore + idClockSlackMs, 2 ** 48 - 1));
  const hex = Math.floor(ms).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}`;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && uuidPattern.test(value);
}

/** An unguessable token that fences one lease: a stale holder cannot act with it. */
export function newLeaseToken(): string {
  return uuidv7();
}
