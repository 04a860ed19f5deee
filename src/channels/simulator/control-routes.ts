import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Slug } from '../../http/schemas.ts';
import { decodeSigningSecret, SecretFormatError } from '../secrets.ts';
import { ModeBodySchema, toChannelMode } from './modes.ts';
import { problemBody, sendResponse } from './problem.ts';
import { PUSH_KINDS } from './schemas.ts';
import { RECEIVED_STATUSES, type SimulatorState } from './state.ts';

/**
 * The control API tests and the demo use to set up and inspect the simulated
 * channel. It sits under /_control so it cannot clash with a channel path.
 */

const ConnectionParams = Type.Object({ channel: Slug('Channel'), parkId: Slug('Park id') });
const ChannelParams = Type.Object({ channel: Slug('Channel') });

const ConnectionBody = Type.Object(
  { secret: Type.String({ minLength: 1, maxLength: 512, description: 'Signing secret of the connection, "whsec_<base64>"' }) },
  { additionalProperties: false },
);

const ReceivedQuery = Type.Object(
  {
    channel: Type.Optional(Slug('Channel')),
    parkId: Type.Optional(Slug('Park id')),
    kind: Type.Optional(Type.Enum(PUSH_KINDS)),
    status: Type.Optional(Type.Enum(RECEIVED_STATUSES)),
  },
  { additionalProperties: false },
);

const ResetQuery = Type.Object(
  { keepConnections: Type.Optional(Type.Boolean({ description: 'Keep the registered secrets (default false)' })) },
  { additionalProperties: false },
);

export function controlRoutes(state: SimulatorState): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.put('/_control/connections/:channel/:parkId', { schema: { params: ConnectionParams, body: ConnectionBody } }, async (request, reply) => {
      const { channel, parkId } = request.params;
      try {
        decodeSigningSecret(request.body.secret);
      } catch (error) {
        if (!(error instanceof SecretFormatError)) throw error;
        return sendResponse(reply, 400, problemBody(400, 'invalid_secret', `${error.message}.`));
      }
      const created = state.registerConnection(channel, parkId, request.body.secret);
      request.log.info({ channel, parkId, created }, 'connection registered');
      return reply.code(created ? 201 : 200).send({ channel, parkId, created });
    });

    app.get('/_control/view/:channel/:parkId', { schema: { params: ConnectionParams } }, async (request) =>
      state.view(request.params.channel, request.params.parkId),
    );

    app.get('/_control/received', { schema: { querystring: ReceivedQuery } }, async (request) => state.receivedLog(request.query));

    app.post('/_control/reset', { schema: { querystring: ResetQuery } }, async (request) => {
      const keepConnections = request.query.keepConnections ?? false;
      state.reset({ keepConnections });
      request.log.info({ keepConnections }, 'simulator reset');
      return { reset: true, keepConnections };
    });

    app.put('/_control/mode/:channel', { schema: { params: ChannelParams, body: ModeBodySchema } }, async (request) => {
      const { channel } = request.params;
      const mode = toChannelMode(request.body);
      state.setMode(channel, mode);
      request.log.info({ channel, mode: mode ?? 'ok' }, 'channel mode set');
      return { channel, mode: mode ?? { mode: 'ok' } };
    });

    app.get('/_control/mode/:channel', { schema: { params: ChannelParams } }, async (request) => {
      const { channel } = request.params;
      return { channel, mode: state.modeOf(channel) ?? { mode: 'ok' } };
    });
  };
}
