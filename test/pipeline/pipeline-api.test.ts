import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildCatalog } from '../../src/cli/build-catalog.js';
import { pipelineChildId, pipelineLeaseToken } from '../../src/core/pipeline-ids.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';
import { PipelineCoordinator } from '../../src/worker/pipeline/pipeline-coordinator.js';
import { type AppFixture, bearer, createAppFixture } from '../api/app-fixture.js';
import { eventually } from '../fixtures/eventually.js';
import { renderText } from '../fixtures/render-text.js';

// The API over the real bundled catalog: the ocr pipeline beside the models it runs.
let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture({ catalog: await buildCatalog(bundledModelsDir, pino({ level: 'silent' })) });
});
afterAll(() => f?.close());

const submit = (body: unknown) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', headers: bearer(f.keys.user), payload: body as object });
const get = (url: string) => f.app.inject({ method: 'GET', url, headers: bearer(f.keys.user) });

describe('pipelines through the API', () => {
  it('lists the ocr pipeline in the catalog', async () => {
    const ocr = (await get('/v1/models/ocr')).json();
    expect(ocr).toMatchObject({ kind: 'pipeline', name: 'ocr', version: '1.0.0', output: 'assemble' });
    // Per-step params: each model step takes its model's params schema.
    expect(Object.keys(ocr.params.properties.steps.properties)).toEqual(['det', 'cls', 'rec', 'rec-other']);
    expect(ocr.params.properties.steps.properties.det.properties.boxThresh).toMatchObject({ maximum: 1 });
  });

  it('takes requests mixing models and pipelines, one task per input × target', async () => {
    const png = (
      await renderText([{ text: 'Hi', x: 10, y: 40, size: 32 }], { width: 200, height: 60 })
    ).toString('base64');
    const res = await submit({ targets: ['ocr', 'ocr-det'], data: [png, png] });
    expect(res.statusCode).toBe(202);
    expect(res.json().tasks.map((t: { target: string }) => t.target)).toEqual([
      'ocr@1.0.0',
      'ocr-det@4.0.0',
      'ocr@1.0.0',
      'ocr-det@4.0.0',
    ]);
    expect((await f.broker.depth('ocr@1.0.0')).waiting).toBe(2);
  });

  let before = 0;
  it("takes per-step params and checks each against its step's model schema (400 naming the path)", async () => {
    const png = (
      await renderText([{ text: 'Hi', x: 10, y: 40, size: 32 }], { width: 200, height: 60 })
    ).toString('base64');
    before = (await f.broker.depth('ocr@1.0.0')).waiting;
    const ok = await submit({ target: 'ocr', data: png, params: { steps: { det: { boxThresh: 0.5 } } } });
    expect(ok.statusCode).toBe(202);
    const task = (await get(`/v1/tasks/${ok.json().tasks[0].id}`)).json();
    expect(task.params).toEqual({ steps: { det: { boxThresh: 0.5 } } });

    const refused = async (params: unknown) => {
      const res = await submit({ target: 'ocr', data: png, params });
      expect(res.statusCode).toBe(400);
      const { error } = res.json();
      expect(error.code).toBe('INFERQ_PARAMS_INVALID');
      return { path: error.details.path, message: error.message };
    };
    expect(await refused({ steps: { det: { boxThresh: 2 } } })).toEqual({
      path: '/params/steps/det/boxThresh',
      message:
        '/params/steps/det/boxThresh must be <= 1 (pipeline ocr@1.0.0, step "det": params schema of ocr-det@4.0.0)',
    });
    expect((await refused({ steps: { det: { boxThreshold: 0.5 } } })).path).toBe(
      '/params/steps/det/boxThreshold',
    );
    expect(await refused({ steps: { detect: {} } })).toEqual({
      path: '/params/steps/detect',
      message:
        '/params/steps/detect names no step; the steps are det, crop, cls, upright, other, rec, rec-other, assemble (pipeline ocr@1.0.0)',
    });
    expect((await refused({ steps: { crop: { margin: 1 } } })).message).toMatch(
      /^\/params\/steps\/crop is transform crop-quads, which takes no params/,
    );
    expect((await refused({ steps: { det: 0.5 } })).path).toBe('/params/steps/det');
    expect((await refused({ boxThresh: 0.5 })).path).toBe('/params/boxThresh');
    // Nothing refused was created.
    expect((await f.broker.depth('ocr@1.0.0')).waiting).toBe(before + 1);
  });

  it("checks a pipeline's input as its first model would (415 for text sent to ocr)", async () => {
    const res = await submit({ target: 'ocr', text: 'plain text' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.details.target).toBe('ocr-det');
  });

  it('lists the steps of a pipeline task, and cancelling it cancels them', async () => {
    const png = (
      await renderText([{ text: 'Hi', x: 10, y: 40, size: 32 }], { width: 200, height: 60 })
    ).toString('base64');
    const submitted = (await submit({ target: 'ocr', data: png })).json();
    const id = submitted.tasks[0].id as string;
    // What a coordinator does first: take the task, create the det step.
    await f.store.claimTask(id, { leaseToken: pipelineLeaseToken(id), workerId: 'c' });
    const parent = (await f.store.getTask(id))!;
    await f.store.createChildTasks(id, [
      {
        id: pipelineChildId(id, 'det', 0),
        requestId: id,
        owner: parent.owner,
        target: { kind: 'model', name: 'ocr-det', version: '4.0.0' },
        input: parent.input,
        parent: { id, stepId: 'det', itemIndex: 0 },
      },
    ]);
    const view = (await get(`/v1/tasks/${id}`)).json();
    expect(view.steps).toEqual([
      expect.objectContaining({
        step: 'det',
        item: 0,
        id: pipelineChildId(id, 'det', 0),
        state: 'queued',
        target: 'ocr-det@4.0.0',
      }),
    ]);
    expect(view.timeline.map((e: { stage: string }) => e.stage)).toContain('step-queued');
    const child = (await get(`/v1/tasks/${pipelineChildId(id, 'det', 0)}`)).json();
    expect(child.parent).toEqual({ id, stepId: 'det', itemIndex: 0 });
    // Listings show the task the client submitted; the pipeline task's id lists its steps.
    const listed = async (query: string) =>
      (await get(`/v1/tasks?${query}`)).json().items.map((t: { id: string }) => t.id);
    expect(await listed(`requestId=${submitted.requestId}`)).toEqual([id]);
    for (const query of ['', 'target=ocr-det', `inputSha256=${parent.input.sha256}`, 'state=queued']) {
      expect(await listed(query), query).not.toContain(pipelineChildId(id, 'det', 0));
    }
    expect(await listed('')).toContain(id);
    expect(await listed(`requestId=${id}`)).toEqual([pipelineChildId(id, 'det', 0)]);

    const cancel = await f.app.inject({
      method: 'DELETE',
      url: `/v1/tasks/${id}`,
      headers: bearer(f.keys.user),
    });
    expect(cancel.json().state).toBe('cancelled');
    expect((await get(`/v1/tasks/${id}`)).json().steps[0].state).toBe('cancelled');
  });
});

describe('pipeline event streams', () => {
  it('a stream of a pipeline task shows `running` when a coordinator takes it, not at its next poll', async () => {
    // Streams here read the store only when woken: the poll is 10 minutes.
    const slow = await createAppFixture({
      catalog: await buildCatalog(bundledModelsDir, pino({ level: 'silent' })),
      pollIntervalMs: 600_000,
    });
    const repository = new ModelRepository(bundledModelsDir);
    const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
    const coordinator = new PipelineCoordinator({
      store: slow.store,
      broker: slow.broker,
      blobs: slow.blobs,
      pipelines,
      workerId: 'c-stream',
      leaseMs: 30_000,
    });
    try {
      const png = (
        await renderText([{ text: 'Hi', x: 10, y: 40, size: 32 }], { width: 200, height: 60 })
      ).toString('base64');
      const submitted = await slow.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: bearer(slow.keys.user),
        payload: { target: 'ocr', data: png },
      });
      const id = submitted.json().tasks[0].id as string;
      const reads = vi.spyOn(slow.store, 'getTask');
      const stream = slow.app.inject({
        method: 'GET',
        url: `/v1/tasks/${id}/events`,
        headers: bearer(slow.keys.user),
      });
      await eventually(() => expect(reads).toHaveBeenCalled(), { timeoutMs: 1_000 });
      const before = reads.mock.calls.length;
      // The coordinator claims the task and queues its first step (no model worker runs here).
      coordinator.start();
      await eventually(async () => expect(await slow.store.listChildTasks(id)).toHaveLength(1), {
        timeoutMs: 5_000,
      });
      // The start announcement woke the stream, which read the task again.
      await eventually(() => expect(reads.mock.calls.length).toBeGreaterThan(before), { timeoutMs: 3_000 });
      reads.mockRestore();
      const cancelled = await slow.app.inject({
        method: 'DELETE',
        url: `/v1/tasks/${id}`,
        headers: bearer(slow.keys.user),
      });
      expect(cancelled.json().state).toBe('cancelled');
      const states = [...(await stream).body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
      expect(states).toEqual(['queued', 'running', 'cancelled']);
    } finally {
      await coordinator.stop();
      await slow.close();
    }
  }, 30_000);
});
