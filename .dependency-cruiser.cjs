/**
 * Keeps the layers of ../shared/DESIGN.md: imports point down, never up or sideways, and
 * no cycles. errors ← core ← config ← { sqlite, postgres } ← { store, queue, blobs, runtime } ← { worker, api } ← dashboard ← cli;
 * client (the SDK) sees only the API schemas and core types
 */
const layer = (name, mayImport) => ({
  name: `layer-${name}`,
  comment: `src/${name} may import only: ${mayImport.join(', ') || '(nothing of ours)'}`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...mayImport.map((m) => `^src/${m}/`)] },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    layer('errors', []),
    layer('core', ['errors']),
    layer('config', ['errors', 'core']),
    layer('sqlite', ['errors', 'core', 'config']),
    layer('postgres', ['errors', 'core', 'config']),
    layer('store', ['errors', 'core', 'config', 'sqlite', 'postgres']),
    layer('queue', ['errors', 'core', 'config', 'sqlite', 'postgres']),
    layer('blobs', ['errors', 'core', 'config', 'sqlite', 'postgres']),
    layer('runtime', ['errors', 'core', 'config']),
    layer('worker', ['errors', 'core', 'config', 'sqlite', 'postgres', 'store', 'queue', 'blobs', 'runtime']),
    layer('api', ['errors', 'core', 'config', 'store', 'queue', 'blobs', 'runtime']),
    layer('dashboard', ['errors', 'core', 'config', 'api', 'client']),
    {
      name: 'layer-client',
      comment:
        'src/client (the SDK, also bundled for the browser) may import only pure types: api/schemas, core, errors/codes',
      severity: 'error',
      from: { path: '^src/client/' },
      to: {
        path: '^src/',
        pathNot: ['^src/client/', '^src/api/schemas/', '^src/core/', '^src/errors/codes\\.ts$'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
