import { isId } from '../core/ids.js';
import { InferqError } from '../errors/index.js';

/** The payload of a job that runs one task on one model. */
export interface TaskJobPayload {
  taskId: string;
}

/**
 * Validates a payload read from the broker. Stored payloads may come from older or foreign
 * code, so they are checked again here, not trusted because the API once checked them.
 */
export function parseTaskJobPayload(payload: unknown): TaskJobPayload {
  if (payload !== null && typeof payload === 'object' && isId((payload as { taskId?: unknown }).taskId)) {
    return { taskId: (payload as { taskId: string }).taskId };
  }
  throw new InferqError(
    'INFERQ_JOB_PAYLOAD_INVALID',
    'job payload must be an object with a taskId (a UUID)',
    {
      details: { payload: JSON.stringify(payload)?.slice(0, 200) },
    },
  );
}
