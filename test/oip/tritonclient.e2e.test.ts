import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferqClient } from '../../src/client/index.js';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { pythonVenv } from '../fixtures/python-venv.js';
import { renderText } from '../fixtures/render-text.js';

// inferq's /v2 endpoints driven by a real external client: NVIDIA's tritonclient (HTTP) from
// PyPI, in the venv scripts/install-tritonclient.sh makes (scripts/test.sh runs it first; run
// here again, a no-op when the venv is there). Its answers must equal inferq's own SDK predict
// for the same image crop.
const root = path.resolve(import.meta.dirname, '../..');
const { python, skipReason } = pythonVenv('tritonclient', 300_000);

interface Report {
  live: boolean;
  ready: boolean;
  server: { name: string; version: string; extensions: string[] };
  models: Record<
    string,
    {
      metadata: { name: string; inputs: unknown[]; outputs: unknown[] };
      modelReady: boolean;
      json: Record<string, string | number>;
      binary: Record<string, string | number>;
    }
  >;
  echo: { sha256: string; bytes: number };
  unknownModelError: string | null;
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? 'tritonclient (PyPI) against inferq serve'
    : `tritonclient: SKIPPED, the venv could not be made (${skipReason})`,
  () => {
    let serve: ServeProcess;
    let dir: string;
    let image: string;
    let crop: Buffer;

    beforeAll(async () => {
      serve = await startServe('');
      dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-triton-'));
      crop = await renderText([{ text: 'Hello inferq 42', x: 8, y: 34, size: 26 }], {
        width: 320,
        height: 48,
      });
      image = path.join(dir, 'crop.png');
      await writeFile(image, crop);
    }, 90_000);

    afterAll(async () => {
      await serve?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('reads health, metadata and readiness, and infers ocr-cls and ocr-rec as the SDK predicts', async () => {
      const key = serve.auth.authorization!.replace(/^Bearer /, '');
      const { stdout } = await promisify(execFile)(
        python,
        [path.join(root, 'test/oip/triton_check.py'), serve.base.replace(/^http:\/\//, ''), key, image],
        { timeout: 60_000 },
      );
      const report = JSON.parse(stdout) as Report;
      expect([report.live, report.ready]).toEqual([true, true]);
      expect(report.server).toMatchObject({ name: 'inferq', extensions: ['binary_tensor_data'] });
      expect(report.server.version).toMatch(/^\d+\.\d+\.\d+/);

      const sdk = new InferqClient({ url: serve.base, apiKey: key });
      for (const [model, field] of [
        ['ocr-cls', 'label'],
        ['ocr-rec', 'text'],
      ] as const) {
        const entry = report.models[model]!;
        expect(entry.modelReady).toBe(true);
        expect(entry.metadata.name).toBe(model);
        expect(entry.metadata.inputs).toEqual([{ name: 'IMAGE', datatype: 'BYTES', shape: [1] }]);
        const predicted = (await sdk.predict(model, crop)).result as Record<string, string | number>;
        // The SDK's fast path (predict with durable: false) answers the same.
        const now = (await sdk.predictNow(model, crop)).result as Record<string, string | number>;
        expect(now).toEqual(predicted);
        for (const mode of ['json', 'binary'] as const) {
          expect(entry[mode][field]).toBe(predicted[field]);
          // FP32 on the wire, float64 in the SDK's JSON: equal to float precision.
          expect(entry[mode].confidence).toBeCloseTo(predicted.confidence as number, 6);
        }
      }
      expect(String(report.models['ocr-rec']!.json.text).trim()).toBe('Hello inferq 42');
      const echoed = (await sdk.predict('echo', 'hello triton')).result as { sha256: string; bytes: number };
      expect(report.echo).toEqual({ sha256: echoed.sha256, bytes: echoed.bytes });
      // The refusal reads as words in the client (the protocol's `{ error: string }`), not as
      // tritonclient's "<exception str() failed>".
      expect(report.unknownModelError).toContain('no model named no-such-model');
    }, 120_000);
  },
);
