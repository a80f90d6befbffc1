import { uuidv7 } from 'uuidv7';

/**
 * Time-sortable ids (UUIDv7): ids created later sort later, which keeps B-tree inserts
 * append-only and lets "newest first" pagination use the primary key.
 */
export function newId(): string {
  return uuidv7();
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && uuidPattern.test(value);
}

/** An unguessable token that fences one lease: a stale holder cannot act with it. */
export function newLeaseToken(): string {
  return uuidv7();
}
