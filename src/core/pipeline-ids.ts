import { sha256Hex } from './hash.js';

/**
 * A UUIDv7-shaped id derived from `parentId` and `key`: the same inputs always give the same id
 * (so creating a pipeline step twice, after a crash and a redo, hits the same row), and it keeps
 * the parent's 48-bit timestamp, so children sort beside their parent in id order.
 */
function derivedId(parentId: string, key: string): string {
  const hash = sha256Hex(`${parentId}\u0000${key}`);
  const time = parentId.replaceAll('-', '').slice(0, 12);
  const variant = ((Number.parseInt(hash[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hash.slice(0, 3)}-${variant}${hash.slice(4, 7)}-${hash.slice(7, 19)}`;
}

/** The id of the child task running item `itemIndex` of step `stepId` of pipeline task `parentId`. */
export function pipelineChildId(parentId: string, stepId: string, itemIndex: number): string {
  return derivedId(parentId, `step/${stepId}/${itemIndex}`);
}

/**
 * The lease token a pipeline task holds while its steps run. Every coordinator uses the same
 * one: advancing a pipeline is idempotent, so any of them may act on it, and a claim with it
 * on a task already running is a no-op instead of a takeover.
 */
export function pipelineLeaseToken(parentId: string): string {
  return derivedId(parentId, 'coordinator');
}
