/**
 * Bundles the dashboard (Preact + uPlot, src/dashboard/ui) into dist/dashboard-assets with
 * esbuild: one app.js and one app.css, no CDN at run time. `npm run build:dashboard`; tests
 * call buildDashboard() before they serve it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const dashboardAssetsDir = path.join(root, 'dist', 'dashboard-assets');

export async function buildDashboard(outdir: string = dashboardAssetsDir): Promise<void> {
  await build({
    entryPoints: { app: path.join(root, 'src/dashboard/ui/main.tsx') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildDashboard();
  console.log(`dashboard built into ${path.relative(process.cwd(), dashboardAssetsDir)}`);
}
