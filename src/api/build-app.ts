import fastifyJwt from '@fastify/jwt';
import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { InferqError } from '../errors/index.js';
import { type ApiContext, createApiContext } from './api-context.js';
import type { AppDeps } from './app-deps.js';
import { authenticate } from './auth/authenticate.js';
import type { AuthLevel } from './auth/principal.js';
import { BufferedBodyBudget } from './buffered-body-budget.js';
import { answerClientError, maxParamLength } from './client-error.js';
import { handleError } from './error-handler.js';
import { rejectNonFiniteNumbers } from './finite-numbers.js';
import { documentErrors } from './openapi-errors.js';
import { documentMultipart } from './openapi-multipart.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { modelRoutes } from './routes/models.js';
import { oipV2Routes } from './routes/oip-v2.js';
import { statsRoutes } from './routes/stats.js';
import { taskEventRoutes } from './routes/task-events.js';
import { taskRoutes } from './routes/tasks.js';
import { tenantRoutes } from './routes/tenants.js';
import { webhookRoutes } from './routes/webhooks.js';
import { workerRoutes } from './routes/workers.js';
import { ErrorBody, OipErrorBody, Query } from './schemas/common.js';

/** The one algorithm this server's tokens are signed and verified with. */
const tokenAlgorithm = 'HS256';

/** The most a body sent to a route that needs no key may be (an API key in JSON is ~60 bytes). */
const publicBodyLimit = 64 * 1024;

/** One registered route and what it requires (the auth matrix test is generated from these). */
export interface RouteInfo {
  method: string;
  url: string;
  auth: AuthLevel;
}

/** The Fastify instance with inferq's route table attached. */
export type InferqApp = FastifyInstance & { inferqRoutes: readonly RouteInfo[] };

/**
 * Builds the HTTP app over the given collaborators. Never calls `listen` (the CLI does): tests
 * drive it with `app.inject()`. Every route is authenticated unless its config says
 * `auth: 'public'`; tenants only ever see their own tasks (404 for anyone else's).
 */
export async function buildApp(deps: AppDeps): Promise<InferqApp> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.config.server.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    // Behind a proxy the client address matters for logs only; auth never trusts it.
    trustProxy: false,
    routerOptions: { maxParamLength },
    // Errors raised before routing (a bad URL, a path segment over maxParamLength) and those of
    // Node's HTTP parser (headers over 16 KiB, bytes that are not HTTP) answer in the one
    // documented shape, as every other error does.
    frameworkErrors: handleError,
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const ctx = createApiContext(deps, app.log);
  const routes: RouteInfo[] = [];

  app.addSchema(ErrorBody);
  app.addSchema(OipErrorBody);
  // Every body this API takes is JSON or multipart. Fastify's own text/plain parser would hand a
  // route a bare string, which then fails as "no target"; without it, a text/plain body is the
  // same 415 as any other media type, saying what to send.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    handleError(
      new InferqError('INFERQ_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
      request,
      reply,
    ),
  );
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    // Swagger UI's own routes are the documentation: readable without a key.
    if (route.url.startsWith('/docs')) route.config = { ...route.config, auth: 'public' };
    // A route that needs no key (of those with a body, only the token exchange) takes a small
    // one: anonymous bodies share one count of held bytes (buffered-body-budget.ts), which a
    // few large ones would otherwise fill for everyone.
    if (route.config?.auth === 'public' && route.bodyLimit === undefined) route.bodyLimit = publicBodyLimit;
    // Every API route refuses query parameters it does not know (a misspelt `?wiat=` is a 400
    // naming it, not silently ignored), those that take none included.
    if (route.url.startsWith('/v1/') && route.schema?.querystring === undefined) {
      route.schema = { ...route.schema, querystring: Query({}) };
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, auth: route.config?.auth ?? 'tenant' });
    }
  });

  // Verification accepts only what signing produces: the one HMAC algorithm (a token signed with
  // HS384/HS512 under the same secret is not ours) and an `exp` (a token without one would never end).
  await app.register(fastifyJwt, {
    secret: deps.jwtSecret,
    sign: { algorithm: tokenAlgorithm },
    verify: { algorithms: [tokenAlgorithm], requiredClaims: ['exp'] },
  });
  await app.register(fastifyMultipart, {
    // Each file streams into the blob store, which enforces the per-model limit; this cap only
    // bounds what busboy will pass through at all.
    limits: {
      fileSize: deps.config.blobs.maxBytes + 1,
      files: deps.config.api.maxTasksPerRequest,
      fields: 100,
      fieldSize: 1024 * 1024,
      parts: deps.config.api.maxTasksPerRequest + 100,
    },
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'inferq',
        version: '1',
        description:
          'Durable asynchronous inference tasks. Errors: `{ error: { code, message, details? } }`.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API key (iq_…) or a token from /v1/auth/token',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: documentErrors,
    transformObject: (document) =>
      'openapiObject' in document ? documentMultipart(document) : document.swaggerObject,
    // Shared schemas keep their own names in components (ErrorBody), not def-0, def-1.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });

  app.addHook('onRequest', async (request) => {
    const level = request.routeOptions.config?.auth ?? 'tenant';
    if (level === 'public' || request.routeOptions.url === undefined) return;
    const principal = await authenticate(app, ctx.keyCache, request);
    if (level === 'admin' && !principal.admin) {
      throw new InferqError('INFERQ_FORBIDDEN', 'this route needs an admin API key', {
        details: { needs: 'admin' },
      });
    }
    request.principal = principal;
    await enforceRateLimit(ctx, principal.tenant);
  });
  const bodyBudget = new BufferedBodyBudget({
    maxTotal: deps.config.server.maxBufferedBytes,
    maxPerTenant: deps.config.server.maxBufferedBytesPerTenant,
  });
  app.addHook('preParsing', bodyBudget.preParsing());
  new Gauge({
    name: 'inferq_buffered_body_bytes',
    help: 'Bytes of JSON bodies held in memory now (server.maxBufferedBytes caps them)',
    registers: [ctx.metrics.registry],
    collect() {
      this.set(bodyBudget.held);
    },
  });
  app.addHook('preHandler', rejectNonFiniteNumbers);
  app.addHook('onClose', async () => {
    await ctx.wakeups.close();
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1_000);
  });

  await app.register(healthRoutes(ctx));
  await app.register(authRoutes(ctx), { prefix: '/v1' });
  await app.register(taskRoutes(ctx), { prefix: '/v1' });
  await app.register(taskEventRoutes(ctx), { prefix: '/v1' });
  await app.register(modelRoutes(ctx), { prefix: '/v1' });
  await app.register(statsRoutes(ctx), { prefix: '/v1' });
  await app.register(keyRoutes(ctx), { prefix: '/v1' });
  await app.register(tenantRoutes(ctx), { prefix: '/v1' });
  await app.register(workerRoutes(ctx), { prefix: '/v1' });
  await app.register(webhookRoutes(ctx), { prefix: '/v1' });
  await app.register(oipV2Routes(ctx));
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
  for (const plugin of deps.plugins ?? []) await app.register(plugin);

  await app.ready();
  return Object.assign(app as unknown as FastifyInstance, { inferqRoutes: routes });
}

async function enforceRateLimit(ctx: ApiContext, tenantId: string): Promise<void> {
  const tenant = await ctx.auth.getTenant(tenantId);
  const perMinute = tenant?.rateLimitPerMinute ?? ctx.config.api.rateLimitPerMinute;
  const waitMs = ctx.rateLimiter.take(tenantId, perMinute);
  if (waitMs > 0) {
    throw new InferqError(
      'INFERQ_RATE_LIMITED',
      `tenant ${tenantId} is limited to ${perMinute} requests a minute`,
      {
        details: { limitPerMinute: perMinute, retryAfterMs: waitMs },
      },
    );
  }
}
