import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/core/task.js';
import type { ChildTasksRead, TaskStore } from '../../src/store/task-store.js';
import { PipelineChildren } from '../../src/worker/pipeline/pipeline-children.js';

// The cache's own rules, over a store that answers scripted reads (the reads themselves are
// the store contract's: test/contracts/task-store.contract.ts).
const child = (id: string, state: Task['state']) => ({ id, state }) as Task;

function scriptedStore(answers: ChildTasksRead[]): { store: TaskStore; cursors: Array<string | undefined> } {
  const cursors: Array<string | undefined> = [];
  const store = {
    listChildTasksChangedSince: async (_parentId: string, cursor?: string) => {
      cursors.push(cursor);
      const answer = answers.shift();
      if (answer === undefined) throw new Error('no more scripted reads');
      return answer;
    },
  } as unknown as TaskStore;
  return { store, cursors };
}

describe('PipelineChildren', () => {
  it('reads whole first, then from the cursor, merging what changed over what it kept', async () => {
    const { store, cursors } = scriptedStore([
      { tasks: [child('a', 'queued'), child('b', 'queued')], cursor: '1' },
      { tasks: [child('a', 'succeeded')], cursor: '2' },
      { tasks: [], cursor: '2' },
    ]);
    const kept = new PipelineChildren(store);
    expect((await kept.read('p')).changed.map((t) => t.id)).toEqual(['a', 'b']);
    const second = await kept.read('p');
    expect(second.changed.map((t) => t.id)).toEqual(['a']);
    expect(second.all.map((t) => [t.id, t.state])).toEqual([
      ['a', 'succeeded'],
      ['b', 'queued'],
    ]);
    kept.add('p', [child('c', 'queued')]);
    expect((await kept.read('p')).all.map((t) => t.id)).toEqual(['a', 'b', 'c']);
    expect(cursors).toEqual([undefined, '1', '2']);
  });

  it('never replaces a final child with an older read of it', async () => {
    const { store } = scriptedStore([
      { tasks: [child('a', 'succeeded')], cursor: '5' },
      { tasks: [child('a', 'running')], cursor: '4' },
    ]);
    const kept = new PipelineChildren(store);
    await kept.read('p');
    expect((await kept.read('p')).all.map((t) => t.state)).toEqual(['succeeded']);
  });

  it('reads whole again after forget, and drops the least recently read task beyond its bound', async () => {
    const { store, cursors } = scriptedStore([
      { tasks: [child('a', 'queued')], cursor: '1' },
      { tasks: [child('a', 'queued')], cursor: '2' },
      { tasks: [child('x', 'queued')], cursor: '3' },
      { tasks: [child('y', 'queued')], cursor: '4' },
      { tasks: [child('x', 'queued')], cursor: '5' },
    ]);
    const kept = new PipelineChildren(store, 1);
    await kept.read('p');
    kept.forget('p');
    expect(kept.size).toBe(0);
    await kept.read('p');
    await kept.read('q');
    expect(kept.size).toBe(1);
    await kept.read('r');
    await kept.read('q');
    expect(cursors).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
