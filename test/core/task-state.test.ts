import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  finalStates,
  isFinalState,
  nextState,
  statesAllowing,
  type TaskEvent,
  type TaskState,
  taskEvents,
  taskStates,
} from '../../src/core/task-state.js';
import { isInferqError } from '../../src/errors/index.js';

// The whole table, written out: every (state, event) pair has an expected outcome.
const expected: Record<TaskState, Record<TaskEvent, TaskState | undefined>> = {
  queued: {
    lease: 'running',
    succeed: undefined,
    fail: undefined,
    retry: undefined,
    'lease-expired': undefined,
    cancel: 'cancelled',
  },
  running: {
    lease: undefined,
    succeed: 'succeeded',
    fail: 'failed',
    retry: 'queued',
    'lease-expired': 'queued',
    cancel: 'cancelled',
  },
  succeeded: {
    lease: undefined,
    succeed: undefined,
    fail: undefined,
    retry: undefined,
    'lease-expired': undefined,
    cancel: undefined,
  },
  failed: {
    lease: undefined,
    succeed: undefined,
    fail: undefined,
    retry: undefined,
    'lease-expired': undefined,
    cancel: undefined,
  },
  cancelled: {
    lease: undefined,
    succeed: undefined,
    fail: undefined,
    retry: undefined,
    'lease-expired': undefined,
    cancel: undefined,
  },
};

describe('task state machine', () => {
  for (const state of taskStates) {
    for (const event of taskEvents) {
      const to = expected[state][event];
      it(`${state} --${event}--> ${to ?? '(refused)'}`, () => {
        expect(nextState(state, event)).toBe(to);
        if (to === undefined) {
          let thrown: unknown;
          try {
            applyEvent(state, event);
          } catch (err) {
            thrown = err;
          }
          expect(isInferqError(thrown, 'INFERQ_TASK_INVALID_TRANSITION')).toBe(true);
          expect((thrown as Error).message).toContain(state);
        } else {
          expect(applyEvent(state, event)).toBe(to);
        }
      });
    }
  }

  it('final states accept no event at all', () => {
    for (const state of finalStates) {
      expect(isFinalState(state)).toBe(true);
      for (const event of taskEvents) expect(nextState(state, event)).toBeUndefined();
    }
    expect(isFinalState('queued')).toBe(false);
    expect(isFinalState('running')).toBe(false);
  });

  it('statesAllowing agrees with nextState (stores build their WHERE clauses from it)', () => {
    for (const event of taskEvents) {
      const allowed = taskStates.filter((s) => nextState(s, event) !== undefined);
      expect([...statesAllowing(event)].sort()).toEqual([...allowed].sort());
    }
  });
});
