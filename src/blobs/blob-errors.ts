import { isSha256Hex } from '../core/hash.js';
import { InferqError } from '../errors/index.js';

/** Every adapter checks a hash before it touches storage: it names a file, a row or a key. */
export function checkHash(sha256: unknown): asserts sha256 is string {
  if (!isSha256Hex(sha256)) {
    throw new InferqError('INFERQ_BLOB_HASH_INVALID', 'A blob hash must be 64 lower-case hex characters.', {
      details: { hash: typeof sha256 === 'string' ? sha256.slice(0, 80) : typeof sha256 },
    });
  }
}

export function blobNotFound(sha256: string): InferqError {
  return new InferqError('INFERQ_BLOB_NOT_FOUND', `No blob with SHA-256 ${sha256}.`, { details: { sha256 } });
}

export function inputTooLarge(maxBytes: number): InferqError {
  return new InferqError('INFERQ_INPUT_TOO_LARGE', `The input is larger than ${maxBytes} bytes.`, {
    details: { maxBytes },
  });
}
