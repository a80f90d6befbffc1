import type { Task } from '../../core/task.js';
import { isFinalState } from '../../core/task-state.js';
import type { TaskStore } from '../../store/task-store.js';

/** Pipeline tasks whose children are kept before the oldest are dropped: bounds memory. */
const defaultMaxParents = 1_000;

/** What {@link PipelineChildren.read} found. */
export interface ChildrenRead {
  /** Every child of the task, as the store holds it now. */
  all: Task[];
  /** The children this read got from the store (all of them on a first read): new or changed. */
  changed: Task[];
}

interface Kept {
  cursor: string;
  children: Map<string, Task>;
}

/**
 * The children of the pipeline tasks one coordinator advances, kept between wake-ups so that a
 * wake-up reads only the children that changed since the last one
 * ({@link TaskStore.listChildTasksChangedSince}): re-reading every child with its result on
 * every wake-up read about N²/B rows for a page of N lines in batches of B.
 *
 * A cache, never the truth: a task not kept (first wake-up, another coordinator's restart, a
 * task dropped for space) is read whole, and {@link forget} after a failed advance makes the
 * next one read whole again, so nothing an advance half did is trusted. A child already final
 * is never replaced by an older read of it (two reads of one task can finish out of order).
 */
export class PipelineChildren {
  readonly #kept = new Map<string, Kept>();

  constructor(
    private readonly store: TaskStore,
    private readonly maxParents = defaultMaxParents,
  ) {}

  /** The children of `parentId` now: the kept ones updated with what changed since. */
  async read(parentId: string): Promise<ChildrenRead> {
    const kept = this.#kept.get(parentId);
    const { tasks, cursor } = await this.store.listChildTasksChangedSince(parentId, kept?.cursor);
    const children = kept?.children ?? new Map<string, Task>();
    for (const task of tasks) {
      const held = children.get(task.id);
      if (held === undefined || !isFinalState(held.state)) children.set(task.id, task);
    }
    // Re-inserted: the Map's order is then least recently read first, the order they are dropped.
    this.#kept.delete(parentId);
    this.#kept.set(parentId, { cursor, children });
    while (this.#kept.size > this.maxParents) {
      const oldest = this.#kept.keys().next().value;
      if (oldest === undefined) break;
      this.#kept.delete(oldest);
    }
    return { all: [...children.values()], changed: tasks };
  }

  /** Adds the children an advance of `parentId` just created (after a {@link read} of it). */
  add(parentId: string, created: readonly Task[]): void {
    const kept = this.#kept.get(parentId);
    if (kept === undefined) return;
    for (const task of created) if (!kept.children.has(task.id)) kept.children.set(task.id, task);
  }

  /** Drops what is kept of `parentId`: it finished, or an advance of it failed part way. */
  forget(parentId: string): void {
    this.#kept.delete(parentId);
  }

  /** How many pipeline tasks are kept (for tests). */
  get size(): number {
    return this.#kept.size;
  }
}
