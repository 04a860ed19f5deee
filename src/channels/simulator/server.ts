import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Ajv } from 'ajv';
import pino, { type Logger } from 'pino';
import { pointerToField } from '../../http/problem.ts';
import { controlRoutes } from './control-routes.ts';
import { problemBody, sendResponse } from './problem.ts';
import { pushRoutes } from './push-routes.ts';
import { SimulatorState } from './state.ts';

/**
 * The channel simulator: an HTTP server that plays a booking channel for
 * parksync's tests, the demo and the benchmarks. It receives parksync's
 * signed outbound pushes under /channels/:channel, and /_control sets it up
 * and reads what it stored. sender.ts sends webhooks the other way.
 */

export interface SimulatorOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Only the loopback address is allowed, because the simulator is for local runs and its control API has no authentication. */
  host?: '127.0.0.1';
  /** Defaults to a silent logger, which suits tests. */
  logger?: Logger;
}

export interface Simulator {
  /** Base URL, such as http://127.0.0.1:9100. A connection's endpointUrl is `${url}/channels/<channel>`. */
  url: string;
  state: SimulatorState;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * Large enough that the simulator is never the reason a delivery fails unless
 * a mode is set. parksync's own inbound limit is 256 KiB.
 */
const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Builds the validators. Bodies are validated strictly, but query strings and path parameters are text on the wire, so they are coerced. */
function buildValidators() {
  return {
    strict: new Ajv({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false }),
    coercing: new Ajv({ allErrors: true, coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: false }),
  };
}

function describeValidation(error: FastifyError): string {
  const issues = (error.validation ?? []) as ValidationIssue[];
  const part = error.validationContext ?? 'body';
  return issues
    .map((issue) => {
      const missing = issue.keyword === 'required' ? issue.params.missingProperty : issue.params.additionalProperty;
      const field = [pointerToField(issue.instancePath), typeof missing === 'string' ? missing : ''].filter(Boolean).join('.');
      let message = issue.message ?? 'is invalid';
      if (issue.keyword === 'additionalProperties') message = 'is not a known field';
      if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) message = `must be one of: ${issue.params.allowedValues.join(', ')}`;
      return `${part} ${field || '(root)'} ${message}`;
    })
    .join('; ');
}

/** Builds the simulator's Fastify app on a state. Aborting `shutdown` cuts slow-mode delays short. */
export function buildSimulatorApp(state: SimulatorState, logger: Logger, shutdown: AbortSignal): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // The push routes log one line per push, so Fastify's two lines per request would only repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  });

  const validators = buildValidators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? validators.strict : validators.coercing).compile(schema),
  );

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const detail = describeValidation(error);
      request.log.info({ code: 'invalid_request', detail }, 'simulator request rejected');
      return sendResponse(reply, 400, problemBody(400, 'invalid_request', detail));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'simulator request failed');
      return sendResponse(reply, 500, problemBody(500, 'internal_error', 'The simulator failed. Its log contains the error.'));
    }
    const code = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalid_json' : 'invalid_request';
    request.log.info({ code, fastifyCode: error.code, detail: error.message }, 'simulator request rejected');
    return sendResponse(reply, status, problemBody(status, code, error.message));
  });

  app.setNotFoundHandler((request, reply) =>
    sendResponse(reply, 404, problemBody(404, 'not_found', `The simulator has no route for ${request.method} ${request.url.split('?')[0]}.`)),
  );

  app.register(pushRoutes({ state, shutdown }));
  app.register(controlRoutes(state));
  return app;
}

/** Starts the simulator on 127.0.0.1 and returns its URL, its state and a close function. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new Error(`The simulator listens on 127.0.0.1 only, not on "${String(host)}".`);

  const logger = options.logger ?? pino({ level: 'silent' });
  const state = new SimulatorState();
  const shutdown = new AbortController();
  const app = buildSimulatorApp(state, logger, shutdown.signal);
  await app.listen({ host, port: options.port ?? 0 });

  const { port } = app.server.address() as AddressInfo;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      shutdown.abort();
      await app.close();
      logger.info({ url }, 'channel simulator stopped');
    })();
    return closing;
  };
  return { url, state, app, close };
}
