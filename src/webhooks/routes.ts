import type { FastifyError, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../errors.ts';
import type { AppContext } from '../http/context.ts';
import { sendProblem } from '../http/problem.ts';
import { toAppErrorWithDatabaseCheck } from '../http/database-fault.ts';
import { BODY_LIMIT_BYTES } from '../http/limits.ts';
import { Slug } from '../http/schemas.ts';
import { recordSyncEvent } from '../observability/sync-events.ts';
import { WEBHOOK_KINDS, type WebhookKind } from './bodies.ts';
import { handleWebhook } from './pipeline.ts';

const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

const WebhookParams = Type.Object({
  channel: Slug('Channel sending the webhook'),
  kind: Type.Union(WEBHOOK_KINDS.map((kind) => Type.Literal(kind))),
});

/**
 * Inbound channel webhooks. The JSON parser here keeps the raw bytes, because
 * the signature covers the body exactly as sent; the pipeline parses it.
 */
export function webhookRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.removeAllContentTypeParsers();
    app.addContentTypeParser(JSON_MEDIA_TYPE, { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => {
      done(null, body);
    });

    // Requests that fail before the handler (too large, wrong media type) still leave an event row.
    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      const appError = await toAppErrorWithDatabaseCheck(ctx, error);
      const { channel, kind } = (request.params ?? {}) as { channel?: string; kind?: string };
      if (typeof channel === 'string' && /^[a-z0-9-]{2,64}$/.test(channel) && appError.status < 500) {
        await recordSyncEvent(ctx.db, {
          occurredAt: ctx.clock.now(),
          parkId: null,
          channel,
          direction: 'inbound',
          kind: typeof kind === 'string' && (WEBHOOK_KINDS as readonly string[]).includes(kind) ? kind : 'unknown',
          status: 'rejected',
          httpStatus: appError.status,
          error: `${appError.code}: ${appError.message}`,
          requestId: request.id,
        }).catch((eventError: unknown) => request.log.error({ err: eventError }, 'could not record the rejected webhook'));
      }
      if (appError.status >= 500) request.log.error({ err: appError.cause ?? error }, 'webhook failed');
      return sendProblem(reply, appError);
    });

    app.post(
      '/webhooks/channel/:channel/:kind',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Receive a signed availability, rates or reservation webhook from a channel',
          params: WebhookParams,
          security: [],
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) {
          throw new AppError('unsupported_media_type', 'Send the body as application/json.');
        }
        const response = await handleWebhook(ctx, {
          channel: request.params.channel,
          kind: request.params.kind as WebhookKind,
          raw: request.body,
          headers: request.headers,
          path: request.url.split('?')[0] ?? request.url,
          requestId: request.id,
          log: request.log,
        });
        return reply.code(response.status).headers(response.headers).send(response.body);
      },
    );
  };
}
