import { Ajv, type ErrorObject } from 'ajv';
import { Type, type Static } from 'typebox';
import type { FieldError } from '../../errors.ts';
import { pointerToField } from '../../http/problem.ts';
import { CalendarDateString, Slug } from '../../http/schemas.ts';
import { MAX_RANGE_DAYS } from '../../inventory/ranges.ts';
import { daysBetween, isCalendarDate } from '../../lib/dates.ts';

/**
 * Bodies of parksync's outbound deliveries as the generic JSON adapter sends
 * them: the inbound webhook shapes, except that an availability update carries
 * `available` (what the channel may sell) in place of `allotment`. Unknown
 * fields are rejected, so a change to the outbound shape shows up in tests.
 */

export type PushKind = 'availability' | 'rates';
export const PUSH_KINDS: readonly PushKind[] = ['availability', 'rates'];

const StayLength = Type.Union([Type.Integer({ minimum: 1, maximum: 365 }), Type.Null()]);

export const AvailabilityPushUpdateSchema = Type.Object(
  {
    unitTypeId: Slug('Unit type id'),
    from: CalendarDateString('First night'),
    to: CalendarDateString('Last night, inclusive'),
    available: Type.Integer({ minimum: 0 }),
    stopSell: Type.Optional(Type.Boolean()),
    minStay: Type.Optional(StayLength),
    minStayArrival: Type.Optional(StayLength),
    minStayThrough: Type.Optional(StayLength),
    maxStay: Type.Optional(StayLength),
    closedToArrival: Type.Optional(Type.Boolean()),
    closedToDeparture: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const AvailabilityPushSchema = Type.Object(
  {
    parkId: Slug('Park id'),
    updates: Type.Array(AvailabilityPushUpdateSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export const RatePushUpdateSchema = Type.Object(
  {
    unitTypeId: Slug('Unit type id'),
    ratePlanId: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$' })),
    from: CalendarDateString('First night'),
    to: CalendarDateString('Last night, inclusive'),
    amount: Type.String({ pattern: '^\\d{1,15}(\\.\\d{1,3})?$' }),
  },
  { additionalProperties: false },
);

export const RatesPushSchema = Type.Object(
  {
    parkId: Slug('Park id'),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    updates: Type.Array(RatePushUpdateSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export type AvailabilityPushUpdate = Static<typeof AvailabilityPushUpdateSchema>;
export type AvailabilityPush = Static<typeof AvailabilityPushSchema>;
export type RatePushUpdate = Static<typeof RatePushUpdateSchema>;
export type RatesPush = Static<typeof RatesPushSchema>;

export interface PushBodies {
  availability: AvailabilityPush;
  rates: RatesPush;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = {
  availability: ajv.compile<AvailabilityPush>(AvailabilityPushSchema),
  rates: ajv.compile<RatesPush>(RatesPushSchema),
};

function describeIssue(issue: ErrorObject): FieldError {
  const field = pointerToField(issue.instancePath);
  if (issue.keyword === 'required' && typeof issue.params.missingProperty === 'string') {
    return { field: field ? `${field}.${issue.params.missingProperty}` : issue.params.missingProperty, message: 'is required' };
  }
  if (issue.keyword === 'additionalProperties' && typeof issue.params.additionalProperty === 'string') {
    const name = field ? `${field}.${issue.params.additionalProperty}` : issue.params.additionalProperty;
    return { field: name, message: 'is not a field of the outbound contract' };
  }
  return { field: field || '(root)', message: issue.message ?? 'is invalid' };
}

/**
 * Checks what the schema cannot: real calendar dates, `to` not before `from`,
 * and at most MAX_RANGE_DAYS nights per update, which also bounds how many
 * nights one push can add to the stored view.
 */
function checkRanges(updates: readonly { from: string; to: string }[]): FieldError[] {
  const errors: FieldError[] = [];
  updates.forEach((update, index) => {
    const prefix = `updates[${index}].`;
    if (!isCalendarDate(update.from)) errors.push({ field: `${prefix}from`, message: `"${update.from}" is not a calendar date` });
    if (!isCalendarDate(update.to)) errors.push({ field: `${prefix}to`, message: `"${update.to}" is not a calendar date` });
    if (!isCalendarDate(update.from) || !isCalendarDate(update.to)) return;
    const nights = daysBetween(update.from, update.to) + 1;
    if (nights < 1) errors.push({ field: `${prefix}to`, message: `must not be before from (${update.from})` });
    if (nights > MAX_RANGE_DAYS) errors.push({ field: `${prefix}to`, message: `range covers ${nights} nights, over the maximum of ${MAX_RANGE_DAYS}. Split it into smaller ranges.` });
  });
  return errors;
}

/** Checks a parsed push body against its kind's schema and date rules. Returns the typed body or the invalid fields. */
export function validatePushBody<K extends PushKind>(kind: K, body: unknown): ParseResult<PushBodies[K]> {
  const validate = validators[kind];
  if (!validate(body)) return { ok: false, errors: (validate.errors ?? []).map(describeIssue) };
  const value = body as PushBodies[K];
  const errors = checkRanges(value.updates);
  return errors.length === 0 ? { ok: true, value } : { ok: false, errors };
}
