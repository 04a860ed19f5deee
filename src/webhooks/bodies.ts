import { Type, type Static, type TSchema } from 'typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { validationError } from '../errors.ts';
import { issuesToFieldErrors } from '../http/problem.ts';
import { Slug } from '../http/schemas.ts';
import {
  AvailabilityUpdatesSchema,
  CurrencySchema,
  RateUpdatesSchema,
  ReservationIdSchema,
  reservationFields,
} from '../inventory/schemas.ts';

export const WEBHOOK_KINDS = ['availability', 'rates', 'reservations'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

export const AvailabilityWebhookSchema = Type.Object(
  { parkId: Slug('Park id'), updates: AvailabilityUpdatesSchema },
  { additionalProperties: false },
);
export const RatesWebhookSchema = Type.Object(
  { parkId: Slug('Park id'), currency: CurrencySchema, updates: RateUpdatesSchema },
  { additionalProperties: false },
);
export const ReservationWebhookSchema = Type.Object(
  { parkId: Slug('Park id'), reservationId: ReservationIdSchema, ...reservationFields },
  { additionalProperties: false },
);

export type AvailabilityWebhook = Static<typeof AvailabilityWebhookSchema>;
export type RatesWebhook = Static<typeof RatesWebhookSchema>;
export type ReservationWebhook = Static<typeof ReservationWebhookSchema>;

export type WebhookBody =
  | { kind: 'availability'; body: AvailabilityWebhook }
  | { kind: 'rates'; body: RatesWebhook }
  | { kind: 'reservations'; body: ReservationWebhook };

const ajv = new Ajv({ allErrors: true, coerceTypes: false, strict: false });
const validators = {
  availability: ajv.compile(AvailabilityWebhookSchema as TSchema),
  rates: ajv.compile(RatesWebhookSchema as TSchema),
  reservations: ajv.compile(ReservationWebhookSchema as TSchema),
};

/** Validates a parsed webhook body against its kind's schema, raising 422 naming each invalid field. */
export function validateWebhookBody(kind: WebhookKind, body: unknown): WebhookBody {
  const validate = validators[kind];
  if (!validate(body)) {
    throw validationError(issuesToFieldErrors((validate.errors ?? []) as ErrorObject[], 'body'));
  }
  return { kind, body } as WebhookBody;
}
