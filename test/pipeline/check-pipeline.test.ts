import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPipeline, type PipelineModelInfo } from '../../src/core/check-pipeline.js';
import { isId, newId } from '../../src/core/ids.js';
import { pipelineChildId, pipelineLeaseToken } from '../../src/core/pipeline-ids.js';
import type { PipelineSpec } from '../../src/core/pipeline-spec.js';
import { InferqError } from '../../src/errors/index.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';

const models: Record<string, PipelineModelInfo> = {
  'ocr-det': {
    name: 'ocr-det',
    version: '4.0.0',
    inputKind: 'image',
    outputFields: ['width', 'height', 'boxes'],
    params: {
      type: 'object',
      additionalProperties: false,
      properties: { boxThresh: { type: 'number', minimum: 0, maximum: 1 } },
    },
  },
  'ocr-cls': { name: 'ocr-cls', version: '2.0.0', inputKind: 'image', outputFields: ['label', 'confidence'] },
  'ocr-rec': { name: 'ocr-rec', version: '4.0.0', inputKind: 'image', outputFields: ['text', 'confidence'] },
};
const lookup = (ref: string) => models[ref.split('@')[0]!];

const ocr = (): PipelineSpec => ({
  name: 'ocr',
  version: '1',
  steps: [
    { id: 'det', model: 'ocr-det', from: '$input' },
    { id: 'crop', transform: 'crop-quads', from: ['$input', 'det'] },
    { id: 'cls', model: 'ocr-cls', from: 'crop', map: true },
    { id: 'upright', transform: 'rotate-180', from: ['crop', 'cls'], map: true },
    { id: 'rec', model: 'ocr-rec', from: 'upright', map: true, optional: true },
    { id: 'assemble', transform: 'ocr-assemble', from: ['det', 'rec'] },
  ],
  output: 'assemble',
});

function problem(spec: PipelineSpec): string {
  try {
    checkPipeline(spec, 'pipelines/ocr.yaml', lookup);
  } catch (err) {
    expect(err).toBeInstanceOf(InferqError);
    expect((err as InferqError).code).toBe('INFERQ_PIPELINE_SPEC_INVALID');
    return (err as InferqError).message;
  }
  throw new Error('the spec was accepted');
}

describe('checkPipeline', () => {
  it('caches results unless the spec or one of its models says cache: false', () => {
    expect(checkPipeline(ocr(), 'x.yaml', lookup).cache).toBe(true);
    expect(checkPipeline({ ...ocr(), cache: false }, 'x.yaml', lookup).cache).toBe(false);
    const noisyCls = (ref: string) =>
      ref.startsWith('ocr-cls') ? { ...models['ocr-cls']!, cache: false } : lookup(ref);
    expect(checkPipeline(ocr(), 'x.yaml', noisyCls).cache).toBe(false);
  });

  it('accepts the ocr DAG and orders steps so sources come first', () => {
    const spec = ocr();
    spec.steps.reverse();
    const compiled = checkPipeline(spec, 'x.yaml', lookup);
    expect(compiled.steps.map((s) => s.id)).toEqual(['det', 'crop', 'cls', 'upright', 'rec', 'assemble']);
    expect(compiled.steps.find((s) => s.id === 'rec')).toMatchObject({
      model: { name: 'ocr-rec', version: '4.0.0' },
      map: true,
      optional: true,
      output: { kind: 'json', list: true },
    });
  });

  it('names the file and step of an unknown model, transform or source', () => {
    const unknownModel = ocr();
    unknownModel.steps[2]!.model = 'ocr-nope';
    expect(problem(unknownModel)).toBe('pipelines/ocr.yaml: step "cls": unknown model "ocr-nope"');
    const unknownTransform = ocr();
    unknownTransform.steps[1]!.transform = 'blur';
    expect(problem(unknownTransform)).toMatch(
      /^pipelines\/ocr\.yaml: step "crop": unknown transform "blur"; known: crop-quads/,
    );
    // A name of every object's prototype is no transform either.
    const inherited = ocr();
    inherited.steps[1]!.transform = 'toString';
    expect(problem(inherited)).toMatch(
      /^pipelines\/ocr\.yaml: step "crop": unknown transform "toString"; known: crop-quads/,
    );
    const unknownSource = ocr();
    unknownSource.steps[4]!.from = 'uprigth';
    expect(problem(unknownSource)).toBe(
      'pipelines/ocr.yaml: step "rec": "from" names "uprigth", which is neither $input nor a step',
    );
  });

  it('takes an optional trailing source where a transform allows it, and refuses too few or too many', () => {
    const twoWays = ocr();
    twoWays.steps.splice(
      4,
      0,
      { id: 'other', transform: 'rotate-180-other', from: ['crop', 'cls'], map: true },
      { id: 'rec-other', model: 'ocr-rec', from: 'other', map: true, optional: true },
    );
    twoWays.steps.at(-1)!.from = ['det', 'rec', 'rec-other'];
    expect(checkPipeline(twoWays, 'x.yaml', lookup).steps.map((s) => s.id)).toContain('rec-other');
    const tooFew = ocr();
    tooFew.steps.at(-1)!.from = ['det'];
    expect(problem(tooFew)).toBe(
      'pipelines/ocr.yaml: step "assemble": transform ocr-assemble takes 2 to 3 sources, not 1',
    );
    const tooMany = ocr();
    tooMany.steps[3]!.from = ['crop', 'cls', 'det'];
    expect(problem(tooMany)).toBe(
      'pipelines/ocr.yaml: step "upright": transform rotate-180 takes 2 sources, not 3',
    );
  });

  it('reports a cycle by its steps', () => {
    const spec = ocr();
    spec.steps[0]!.from = 'assemble';
    expect(problem(spec)).toBe('pipelines/ocr.yaml: step "det": steps form a cycle: det → assemble → det');
  });

  it('reports type mismatches between a source and the step that reads it', () => {
    const noMap = ocr();
    delete noMap.steps[2]!.map;
    expect(problem(noMap)).toBe(
      'pipelines/ocr.yaml: step "cls": type mismatch: "crop" gives image[] (it is a list: mark the step "map: true"), but this step takes image there',
    );
    const jsonIntoImage = ocr();
    jsonIntoImage.steps[2] = { id: 'cls', model: 'ocr-cls', from: 'det' };
    expect(problem(jsonIntoImage)).toBe(
      'pipelines/ocr.yaml: step "cls": type mismatch: "det" gives json{width, height, boxes}, but this step takes image there',
    );
    const wrongFields = ocr();
    wrongFields.steps[1]!.from = ['$input', 'cls'];
    wrongFields.steps[2]!.from = 'det';
    expect(problem(wrongFields)).toMatch(/^pipelines\/ocr\.yaml: step "(crop|cls)": /);
  });

  it('refuses a step with both or neither of model and transform, and a missing output', () => {
    const both = ocr();
    both.steps[0]!.transform = 'crop-quads';
    expect(problem(both)).toBe('pipelines/ocr.yaml: step "det": give exactly one of "model" or "transform"');
    const output = ocr();
    output.output = 'result';
    expect(problem(output)).toBe('pipelines/ocr.yaml: "output" names "result", which is not a step');
  });
});

describe('step params in a spec', () => {
  it("keeps a model step's params when they fit its model's schema", () => {
    const spec = ocr();
    spec.steps[0]!.params = { boxThresh: 0.5 };
    spec.steps[2]!.params = { anything: true }; // ocr-cls declares no params schema here
    const compiled = checkPipeline(spec, 'x.yaml', lookup);
    expect(compiled.steps[0]).toMatchObject({
      params: { boxThresh: 0.5 },
      paramsSchema: models['ocr-det']!.params,
    });
  });

  it("names the file, step and JSON path of params that do not fit the step's model", () => {
    const outOfRange = ocr();
    outOfRange.steps[0]!.params = { boxThresh: 2 };
    expect(problem(outOfRange)).toBe(
      'pipelines/ocr.yaml: step "det": params/boxThresh must be <= 1 (params schema of ocr-det@4.0.0)',
    );
    const unknownKey = ocr();
    unknownKey.steps[0]!.params = { boxThreshold: 0.5 };
    expect(problem(unknownKey)).toBe(
      'pipelines/ocr.yaml: step "det": params/boxThreshold is not a known param (params schema of ocr-det@4.0.0)',
    );
    const onTransform = ocr();
    onTransform.steps[1]!.params = { margin: 2 };
    expect(problem(onTransform)).toBe(
      'pipelines/ocr.yaml: step "crop": transform crop-quads takes no params',
    );
  });
});

describe('readPipelines', () => {
  it('loads the bundled ocr pipeline against the bundled models', async () => {
    const loaded = await readPipelines(bundledModelsDir, await new ModelRepository(bundledModelsDir).list());
    expect(loaded.invalid).toEqual({});
    expect(loaded.pipelines.map((p) => `${p.name}@${p.version}`)).toEqual(['ocr@1.0.0']);
  });

  it('reports a bad file by name and step, and keeps the good ones', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inferq-pipelines-'));
    try {
      mkdirSync(path.join(dir, 'pipelines'));
      writeFileSync(
        path.join(dir, 'pipelines', 'bad.yaml'),
        'name: bad\nversion: "1"\nsteps:\n  - id: det\n    model: ocr-det\n    from: $input\n    colour: red\noutput: det\n',
      );
      writeFileSync(
        path.join(dir, 'pipelines', 'good.yaml'),
        'name: good\nversion: "1"\nsteps:\n  - id: det\n    model: ocr-det\n    from: $input\noutput: det\n',
      );
      const repo = await new ModelRepository(bundledModelsDir).list();
      const loaded = await readPipelines(dir, repo);
      expect(loaded.pipelines.map((p) => p.name)).toEqual(['good']);
      expect(loaded.invalid['bad.yaml']?.message).toMatch(/bad\.yaml: step "det": key "steps\.0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pipeline ids', () => {
  it('derives stable, distinct UUIDv7-shaped ids that sort with their parent', () => {
    const parent = newId();
    const a = pipelineChildId(parent, 'rec', 0);
    expect(pipelineChildId(parent, 'rec', 0)).toBe(a);
    expect(
      new Set([
        a,
        pipelineChildId(parent, 'rec', 1),
        pipelineChildId(parent, 'cls', 0),
        pipelineLeaseToken(parent),
      ]).size,
    ).toBe(4);
    for (const id of [a, pipelineLeaseToken(parent)]) {
      expect(isId(id)).toBe(true);
      expect(id.slice(0, 13)).toBe(parent.slice(0, 13));
      expect(id[14]).toBe('7');
    }
  });
});
