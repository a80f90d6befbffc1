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

// inferq's /v2 endpoints driven by KServe's own v2 client: kserve's InferenceRESTClient (PyPI),
// in the venv scripts/install-kserve.sh makes (scripts/test.sh runs it first; run here again, a
// no-op when the venv is there). Its answers must equal inferq's own SDK predict for the same
// image crop, as tritonclient's do (tritonclient.e2e.test.ts).
const root = path.resolve(import.meta.dirname, '../..');
const { python, skipReason } = pythonVenv('kserve', 600_000);

interface Report {
  live: boolean;
  ready: boolean;
  models: Record<
    string,
    {
      modelReady: boolean;
      json: Record<string, string | number>;
      binary: Record<string, string | number>;
    }
  >;
  echo: Record<string, string | number>;
  unknownModelError: string | null;
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? "kserve's InferenceRESTClient (PyPI) against inferq serve"
    : `kserve: SKIPPED, the venv could not be made (${skipReason})`,
  () => {
    let serve: ServeProcess;
    let dir: string;
    let image: string;
    let crop: Buffer;

    beforeAll(async () => {
      serve = await startServe('');
      dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-kserve-'));
      crop = await renderText([{ text: 'Hello kserve 42', x: 8, y: 34, size: 26 }], {
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

    it('reads health and readiness, and infers ocr-cls, ocr-rec and echo as the SDK predicts', async () => {
      const key = serve.auth.authorization!.replace(/^Bearer /, '');
      const { stdout } = await promisify(execFile)(
        python,
        [path.join(root, 'test/oip/kserve_check.py'), serve.base, key, image],
        { timeout: 90_000 },
      );
      const report = JSON.parse(stdout) as Report;
      expect([report.live, report.ready]).toEqual([true, true]);

      const sdk = new InferqClient({ url: serve.base, apiKey: key });
      for (const [model, field] of [
        ['ocr-cls', 'label'],
        ['ocr-rec', 'text'],
      ] as const) {
        const entry = report.models[model]!;
        expect(entry.modelReady).toBe(true);
        const predicted = (await sdk.predict(model, crop)).result as Record<string, string | number>;
        for (const mode of ['json', 'binary'] as const) {
          expect(entry[mode][field]).toBe(predicted[field]);
          // FP32 on the wire, float64 in the SDK's JSON: equal to float precision.
          expect(entry[mode].confidence).toBeCloseTo(predicted.confidence as number, 6);
        }
      }
      expect(String(report.models['ocr-rec']!.json.text).trim()).toBe('Hello kserve 42');
      const echoed = (await sdk.predict('echo', 'hello kserve')).result as { sha256: string; bytes: number };
      expect(report.echo).toMatchObject({ sha256: echoed.sha256, bytes: echoed.bytes });
      // The refusal reaches the client's user with the server's words (kserve reads the
      // protocol's `error` only from a response whose Content-Type is exactly application/json).
      expect(report.unknownModelError).toContain('no model named no-such-model');
      expect(report.unknownModelError).toContain('404');
    }, 180_000);
  },
);
