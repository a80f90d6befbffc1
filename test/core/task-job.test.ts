import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/core/task.js';
import { taskJob, taskJobsByQueue } from '../../src/core/task-job.js';

const task = (owner: string, priority = 0): Task =>
  ({
    id: '0193a6c4-0000-7000-8000-000000000001',
    owner,
    priority,
    state: 'queued',
    maxAttempts: 3,
    target: { kind: 'model', name: 'echo', version: '1' },
  }) as Task;

describe('taskJob', () => {
  it("carries the task's owner as the job's tenant, so brokers share a queue fairly between tenants", () => {
    expect(taskJob(task('tenant-a', 7))).toMatchObject({ tenant: 'tenant-a', priority: 7 });
    const byQueue = taskJobsByQueue([task('tenant-b')]);
    expect([...byQueue.values()].flat().map((j) => j.tenant)).toEqual(['tenant-b']);
  });
});
