import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The package as a user gets it: `npm pack` (its prepack hook builds dist/), the tarball unpacked
// into a temporary application's node_modules/inferq. Its declared dependencies are linked from
// this checkout's node_modules (already installed, with better-sqlite3's native build), so the
// test needs no network and no compiler; an import of anything package.json does not declare
// fails, because nothing above the temporary directory holds it.
const root = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(tmpdir(), 'inferq-pack-'));
const app = path.join(work, 'app');
let packedFiles: string[] = [];

beforeAll(() => {
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = packed!.files.map((f) => f.path);
  const modules = path.join(app, 'node_modules');
  mkdirSync(modules, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(work, packed!.filename), '-C', modules]);
  execFileSync('mv', [path.join(modules, 'package'), path.join(modules, 'inferq')]);
  const manifest = JSON.parse(readFileSync(path.join(modules, 'inferq/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const dep of Object.keys(manifest.dependencies)) {
    mkdirSync(path.dirname(path.join(modules, dep)), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', dep), path.join(modules, dep));
  }
  writeFileSync(path.join(app, 'package.json'), '{ "type": "module", "private": true }\n');
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runInApp(script: string): string {
  writeFileSync(path.join(app, 'check.mjs'), script);
  return execFileSync(process.execPath, ['check.mjs'], {
    cwd: app,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
}

it('packs both entries of package.json exports', () => {
  expect(packedFiles).toEqual(
    expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js']),
  );
});

it("'inferq' imports from the tarball and serves an embedded app over SQLite and files", () => {
  const out = runInApp(`
    import * as inferq from 'inferq';
    const exported = ['buildApp', 'loadConfig', 'openBackends', 'openAuthStore', 'buildCatalog', 'startWorkers',
      'SqliteTaskStore', 'PostgresTaskStore', 'SqliteBroker', 'RedisBroker', 'RabbitMqBroker',
      'FsBlobStore', 'PostgresBlobStore', 'InferqClient', 'InferqError']
      .filter((name) => typeof inferq[name] !== 'function');
    if (exported.length > 0) throw new Error('not exported: ' + exported.join(', '));
    const config = inferq.loadConfig({ cwd: process.cwd(), env: {}, overrides: { dataDir: './data' } });
    const backends = await inferq.openBackends(config);
    const auth = await inferq.openAuthStore(config);
    const app = await inferq.buildApp({ config, ...backends, auth, catalog: new inferq.StaticModelCatalog([]),
      jwtSecret: 'a'.repeat(32) });
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    await app.close(); await auth.close(); await backends.close();
    console.log(res.statusCode, res.json().status);
  `);
  expect(out.trim()).toBe('200 ok');
});

it("'inferq/client' imports from the tarball", () => {
  const out = runInApp(`
    import { InferqClient, verifyWebhook } from 'inferq/client';
    const client = new InferqClient({ url: 'http://127.0.0.1:1' });
    console.log(typeof client.submit, typeof verifyWebhook);
  `);
  expect(out.trim()).toBe('function function');
});
