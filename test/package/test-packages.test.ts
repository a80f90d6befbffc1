import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

// scripts/test-packages.txt is the one list of Debian packages the suites need: README's test command
// installs from it, and .ci/run installs nothing of its own (CI green while `npm test` is red on a
// fresh machine was the bug).
const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const listed = execFileSync('bash', ['scripts/install-test-packages.sh', '--list'], {
  cwd: root,
  encoding: 'utf8',
})
  .trim()
  .split('\n');
const fakeBin = mkdtempSync(path.join(tmpdir(), 'inferq-apt-'));
afterAll(() => rmSync(fakeBin, { recursive: true, force: true }));

it('lists Debian package names, each with the suites that need it', () => {
  const rows = read('scripts/test-packages.txt')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.trim().split(/\s+/));
  expect(rows.map((r) => r[0])).toEqual(listed);
  for (const [pkg, ...suites] of rows) {
    expect(pkg).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
    expect(suites.length, `${pkg} names no suite`).toBeGreaterThan(0);
  }
});

it('holds every package the suites and scripts ask for, and .ci/run installs none itself', () => {
  const asked = new Set<string>(['chromium']); // the dashboard suite: /usr/bin/chromium
  for (const m of read('test/fixtures/render-text.ts').matchAll(/'(fonts-[a-z-]+)'/g)) asked.add(m[1]!);
  for (const m of read('scripts/test-services.sh').matchAll(/apt_install ([a-z-]+)/g)) asked.add(m[1]!);
  expect(asked.size).toBeGreaterThanOrEqual(6);
  for (const pkg of asked) expect(listed).toContain(pkg);
  const ci = read('.ci/run');
  expect(ci).not.toMatch(/apt-get\s+install/);
  expect(ci).toMatch(/^npm install && npm test$/m);
});

/** Runs the installer with fake dpkg-query/id/apt-get first on PATH; returns its exit, stderr and apt-get calls. */
function runInstaller(installed: string[], uid: number, aptExit = 0) {
  const log = path.join(fakeBin, 'apt.log');
  writeFileSync(log, '');
  const script = (name: string, body: string) => {
    writeFileSync(path.join(fakeBin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path.join(fakeBin, name), 0o755);
  };
  script(
    'dpkg-query',
    `case " ${installed.join(' ')} " in *" \${@: -1} "*) echo 'install ok installed';; esac`,
  );
  script('id', `echo ${uid}`);
  script('apt-get', `echo "$*" >> ${log}; exit ${aptExit}`);
  const run = spawnSync('bash', ['scripts/install-test-packages.sh'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` },
  });
  return { status: run.status, stderr: run.stderr, apt: readFileSync(log, 'utf8').trim().split('\n') };
}

it('installs the missing packages with one apt-get install as root', () => {
  const run = runInstaller(['postgresql', 'redis-server'], 0);
  expect(run.status).toBe(0);
  const missing = listed.filter((p) => p !== 'postgresql' && p !== 'redis-server');
  expect(run.apt).toEqual(['update -qq', `install -y -qq --no-install-recommends ${missing.join(' ')}`]);
});

it('installs nothing when everything is there', () => {
  const run = runInstaller(listed, 0);
  expect(run).toMatchObject({ status: 0, apt: [''] });
});

it('names each missing package and the suites it skips where it cannot install (not root, apt-get failed)', () => {
  for (const [uid, aptExit, why] of [
    [1000, 0, 'not root'],
    [0, 100, 'apt-get failed'],
  ] as const) {
    const run = runInstaller(
      listed.filter((p) => p !== 'chromium' && p !== 'fonts-liberation'),
      uid,
      aptExit,
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `chromium is missing (${why}: cannot install it): dashboard end-to-end suite (/usr/bin/chromium) will be SKIPPED`,
    );
    expect(run.stderr).toContain(`fonts-liberation is missing (${why}`);
    expect(run.stderr).not.toContain('postgresql is missing');
  }
});
