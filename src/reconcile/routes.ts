import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { canAccessPark } from '../auth/tokens.ts';
import { getConnection } from '../channels/connections.ts';
import { inTransaction } from '../db/transaction.ts';
import { AppError, validationError } from '../errors.ts';
import { actorOf, principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { CalendarDateString, Slug } from '../http/schemas.ts';
import { checkReadRange } from '../inventory/ranges.ts';
import type { ReconcileJob } from './jobs.ts';
import { deltaStart } from './delta.ts';
import { enqueueJob } from './jobs.ts';

const ChannelParams = Type.Object({ channel: Slug('Channel') });
const JobParams = Type.Object({ channel: Slug('Channel'), jobId: Type.String({ format: 'uuid' }) });
const ReconcileBody = Type.Object(
  {
    parkId: Slug('Park id'),
    from: Type.Optional(CalendarDateString('First night')),
    to: Type.Optional(CalendarDateString('Last night, inclusive')),
    sinceCursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Check only what changed since this change-feed cursor' })),
  },
  { additionalProperties: false },
);

export function toJobView(job: ReconcileJob) {
  return {
    jobId: job.job_id,
    parkId: job.park_id,
    channel: job.channel,
    trigger: job.trigger,
    state: job.state,
    from: job.range_from,
    to: job.range_to,
    sinceCursor: job.since_cursor,
    checked: job.checked,
    drifted: job.drifted,
    corrected: job.corrected,
    attempts: job.attempts,
    lastError: job.last_error,
    requestedBy: job.requested_by,
    createdAt: job.created_at.toISOString(),
    startedAt: job.started_at?.toISOString() ?? null,
    finishedAt: job.finished_at?.toISOString() ?? null,
  };
}

export function reconcileRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/channels/:channel/reconcile',
      {
        schema: {
          tags: ['runbook'],
          summary: "Compare the channel's view with parksync's and queue corrections (202 with the job; the running job when one exists)",
          params: ChannelParams,
          body: ReconcileBody,
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request, reply) => {
        const { channel } = request.params;
        const { parkId, from, to, sinceCursor } = request.body;
        if (!canAccessPark(principalOf(request), parkId)) throw new AppError('forbidden_park', `The token is not allowed for park "${parkId}".`);
        const hasRange = from !== undefined || to !== undefined;
        if (hasRange === (sinceCursor !== undefined)) {
          throw validationError([{ field: 'from', message: 'give either from and to, or sinceCursor' }]);
        }
        if (hasRange) {
          if (from === undefined || to === undefined) throw validationError([{ field: from === undefined ? 'from' : 'to', message: 'is required with a range' }]);
          const errors = checkReadRange(from, to).map((error) => ({ ...error, field: error.field.replace('query:', '') }));
          if (errors.length > 0) throw validationError(errors);
        }
        if (sinceCursor !== undefined && !deltaStart(sinceCursor, parkId, channel)) {
          throw validationError([
            { field: 'sinceCursor', message: `must be a change cursor from GET /channels/${channel}/availability for park ${parkId}` },
          ]);
        }
        const result = await inTransaction(ctx.db, async (trx) => {
          const connection = await getConnection(trx, parkId, channel);
          if (!connection.endpoint_url) {
            throw validationError([
              { field: 'channel', message: `the connection has no endpointUrl, so the channel's view cannot be read; set one with PUT /parks/${parkId}/channels/${channel}` },
            ]);
          }
          const queued = await enqueueJob(
            trx,
            { parkId, channel, trigger: 'manual', ...(from ? { from } : {}), ...(to ? { to } : {}), ...(sinceCursor ? { sinceCursor } : {}), requestedBy: actorOf(request) },
            ctx.clock.now(),
          );
          if (queued.created) {
            await recordAudit(trx, {
              actor: actorOf(request),
              action: 'reconcile.request',
              parkId,
              channel,
              details: { jobId: queued.job.job_id, from: from ?? null, to: to ?? null, sinceCursor: sinceCursor ?? null },
              requestId: request.id,
            });
          }
          return queued;
        });
        return reply.code(202).send({ jobId: result.job.job_id, created: result.created, state: result.job.state });
      },
    );

    app.get(
      '/channels/:channel/reconcile/:jobId',
      {
        schema: { tags: ['runbook'], summary: 'Read a reconcile job: state and counts (checked, drifted, corrected)', params: JobParams },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const job = await ctx.db
          .selectFrom('reconcile_jobs')
          .selectAll()
          .where('job_id', '=', request.params.jobId)
          .where('channel', '=', request.params.channel)
          .executeTakeFirst();
        if (!job || !canAccessPark(principalOf(request), job.park_id)) {
          throw new AppError('not_found', `Channel "${request.params.channel}" has no reconcile job ${request.params.jobId}.`);
        }
        return toJobView(job);
      },
    );
  };
}
