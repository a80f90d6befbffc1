/**
 * How to start a worker thread whose entry module `name` sits beside `moduleUrl` (the caller's
 * `import.meta.url`). From `dist/` that is `name.js`. From the TypeScript sources (vitest, tsx)
 * it is the `name-from-ts.mjs` shim, which loads `name.ts` through tsx: a `.ts` entry started
 * with `--import tsx` fails on Node 20, the entry being resolved before the thread's loader hooks
 * exist. Only the URL's path is looked at: tsx adds a query to it inside a worker thread.
 *
 * `execArgv` is the process's Node options minus `--input-type`, which applies only to `-e`
 * source and makes a file entry fail to load (the bench starts `inferq serve` with `-e`).
 */
export function threadEntry(moduleUrl: string, name: string): { url: URL; execArgv: string[] } {
  const fromSources = new URL(moduleUrl).pathname.endsWith('.ts');
  return {
    url: new URL(fromSources ? `./${name}-from-ts.mjs` : `./${name}.js`, moduleUrl),
    execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')),
  };
}
