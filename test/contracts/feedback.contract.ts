import { expect } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { Feedback } from '../../src/store/feedback.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { type ContractOptions, create, describeContract, type StoreFactory } from './task-store-fixtures.js';

/**
 * The behaviour every `Feedback` adapter must have: entries kept in order per task, gone with
 * the task. Tasks are created through the same database's `TaskStore`.
 */
export function runFeedbackContract(
  name: string,
  factory: StoreFactory<TaskStore & Feedback>,
  options: ContractOptions = {},
): void {
  describeContract(`Feedback contract: ${name}`, factory, options, ({ store, section, test }) => {
    section('feedback', () => {
      test('is kept in order per task; a missing task takes none', async () => {
        const task = await create(store);
        expect(await store.addFeedback(task.id, { feedback: { label: 'cat' }, at: 1 })).toBe(true);
        expect(await store.addFeedback(task.id, { feedback: 'dog', at: 2 })).toBe(true);
        expect(await store.listFeedback(task.id)).toEqual([
          { feedback: { label: 'cat' }, at: 1 },
          { feedback: 'dog', at: 2 },
        ]);
        expect(await store.addFeedback(newId(), { feedback: 1, at: 3 })).toBe(false);
        await store.deleteTask(task.id);
        expect(await store.listFeedback(task.id)).toEqual([]);
      });
    });
  });
}
