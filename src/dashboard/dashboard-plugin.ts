import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/**
 * Where `npm run build:dashboard` writes the bundle. The same path from src/dashboard (tsx)
 * and dist/dashboard (compiled): both sit two levels below the package root.
 */
export const defaultAssetsDir = fileURLToPath(new URL('../../dist/dashboard-assets/', import.meta.url));

const assets: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inferq</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<div id="app"></div>
<script type="module" src="/dashboard/app.js"></script>
</body>
</html>
`;

/** Scripts and styles only from this server; images also from blob: URLs (task inputs fetched with the token). */
const contentSecurityPolicy =
  "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/**
 * The web dashboard at `/`: a static page and its bundle. The page itself holds no data and so
 * is public; it signs in with an API key and then calls the API like any client.
 */
export function dashboardPlugin(options: { assetsDir?: string } = {}): FastifyPluginAsync {
  const dir = options.assetsDir ?? defaultAssetsDir;
  const cache = new Map<string, Buffer>();
  const config = { auth: 'public' as const };
  return async (app) => {
    app.get('/', { config, schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', contentSecurityPolicy)
        .header('x-content-type-options', 'nosniff')
        .send(page),
    );
    app.get<{ Params: { file: string } }>(
      '/dashboard/:file',
      { config, schema: { hide: true } },
      async (request, reply) => {
        const { file } = request.params;
        const type = assets[file];
        if (type === undefined)
          return reply
            .status(404)
            .send({ error: { code: 'INFERQ_ROUTE_NOT_FOUND', message: `no dashboard file ${file}` } });
        let body = cache.get(file);
        if (body === undefined) {
          try {
            body = await readFile(`${dir}/${file}`);
          } catch {
            return reply
              .status(503)
              .header('content-type', 'text/plain; charset=utf-8')
              .send('the dashboard is not built: run `npm run build:dashboard`');
          }
          cache.set(file, body);
        }
        return reply.header('content-type', type).header('cache-control', 'no-cache').send(body);
      },
    );
  };
}
