/** An idempotency key held by one owner, and the request it produced. */
export interface IdempotencyRecord {
  owner: string;
  key: string;
  /** A hash of what was asked (the caller decides what counts as the same request). */
  fingerprint: string;
  requestId: string;
  createdAt: number;
}

export type IdempotencyClaim = { claimed: true } | { claimed: false; existing: IdempotencyRecord };

/**
 * The `Idempotency-Key`s of submissions: one owner's key names the request it produced. Kept
 * beside the tasks (a key lives as long as the tasks of its time: retention drops older ones).
 */
export interface IdempotencyKeys {
  /**
   * Reserves an idempotency key for `record.requestId`. When the owner already holds the key,
   * nothing is written and the existing record is returned (same fingerprint: a retry).
   */
  claimIdempotencyKey(record: IdempotencyRecord): Promise<IdempotencyClaim>;
  /** Frees a key whose request failed before creating anything, so a retry can succeed. */
  releaseIdempotencyKey(owner: string, key: string): Promise<void>;
}
