import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { AppError } from '../errors.ts';
import type { AppContext } from './context.ts';
import { sendProblem } from './problem.ts';
import { toAppErrorWithDatabaseCheck } from './database-fault.ts';
import { healthRoutes } from './health.ts';
import { parkRoutes } from '../parks/routes.ts';
import { connectionRoutes } from '../channels/routes.ts';
import { inventoryRoutes } from '../inventory/routes.ts';
import { flagRoutes } from '../flags/routes.ts';
import { tokenRoutes } from '../auth/routes.ts';
import { auditRoutes } from '../audit/routes.ts';
import { webhookRoutes } from '../webhooks/routes.ts';
import { syncControlRoutes } from '../sync/routes.ts';
import { pullRoutes } from '../pull/routes.ts';
import { reconcileRoutes } from '../reconcile/routes.ts';
import { skewWindowRoutes } from '../channels/skew-routes.ts';
import { alertRoutes } from '../alerts/routes.ts';
import { logsRoutes } from '../observability/logs-routes.ts';
import { BODY_LIMIT_BYTES } from './limits.ts';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Bodies are validated strictly (a count sent as "5" is an error, not 5);
 * query strings and path parameters are text on the wire, so they are coerced.
 */
function buildValidators() {
  const strict = new Ajv({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false });
  const coercing = new Ajv({ allErrors: true, coerceTypes: 'array', useDefaults: true, strict: false });
  addFormats.default(strict);
  addFormats.default(coercing);
  return { strict, coercing };
}

export type App = FastifyInstance;

export async function buildApp(ctx: AppContext): Promise<App> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Errors raised before routing (a malformed URL, say) get the same problem+json as the rest.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      void sendProblem(reply, new AppError('invalid_request', `The request could not be routed: ${error.message}`));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Only JSON bodies are accepted: a text/plain body gets 415, not a confusing validation error.
  app.removeContentTypeParser('text/plain');

  const validators = buildValidators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? validators.strict : validators.coercing).compile(schema),
  );

  // Both hooks take a callback rather than returning a promise: they run on every request, webhooks
  // included, and an async hook costs a promise and a microtask each time.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  // A POST or PUT sent without a body is read as {}, so the response names the missing fields
  // (or succeeds when every field is optional) instead of "(root) must be object".
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined && ['POST', 'PUT', 'PATCH'].includes(request.method)) request.body = {};
    done();
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const appError = await toAppErrorWithDatabaseCheck(ctx, error);
    if (appError.status >= 500) {
      request.log.error({ err: appError.cause ?? error, code: appError.code }, 'request failed');
    } else {
      request.log.info({ code: appError.code, detail: appError.message }, 'request rejected');
    }
    return sendProblem(reply, appError);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new AppError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}.`)),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'parksync API',
        version: '0.1.0',
        description: 'Channel manager for holiday parks. Errors are application/problem+json with a `code`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes(ctx));
  await app.register(parkRoutes(ctx));
  await app.register(connectionRoutes(ctx));
  await app.register(inventoryRoutes(ctx));
  await app.register(flagRoutes(ctx));
  await app.register(tokenRoutes(ctx));
  await app.register(auditRoutes(ctx));
  await app.register(skewWindowRoutes(ctx));
  await app.register(webhookRoutes(ctx));
  await app.register(syncControlRoutes(ctx));
  await app.register(pullRoutes(ctx));
  await app.register(reconcileRoutes(ctx));
  await app.register(alertRoutes(ctx));
  await app.register(logsRoutes(ctx));

  return app;
}
