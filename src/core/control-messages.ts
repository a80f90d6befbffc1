import type { BroadcastMessage } from './job.js';

/** The broadcast channel workers listen on for control messages (cancel, reload…). */
export const controlChannel = 'inferq.control';

/** Asks whichever worker runs `taskId` to stop it (the store already says `cancelled`). */
export function cancelTaskMessage(taskId: string): BroadcastMessage {
  return { type: 'cancel', taskId };
}
