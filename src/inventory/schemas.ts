import { Type } from 'typebox';
import { CalendarDateString, Slug } from '../http/schemas.ts';

const StayLength = (description: string) =>
  Type.Union([Type.Integer({ minimum: 1, maximum: 365 }), Type.Null()], { description: `${description}; null clears it` });

export const AvailabilityUpdateSchema = Type.Object(
  {
    unitTypeId: Slug('Unit type id'),
    from: CalendarDateString('First night'),
    to: CalendarDateString('Last night, inclusive'),
    allotment: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'Units offered for sale each night' })),
    stopSell: Type.Optional(Type.Boolean()),
    minStay: Type.Optional(StayLength('Minimum stay on arrival, in nights (same as minStayArrival)')),
    minStayArrival: Type.Optional(StayLength('Minimum stay for stays arriving on the night')),
    minStayThrough: Type.Optional(StayLength('Minimum stay for every stay that includes the night')),
    maxStay: Type.Optional(StayLength('Maximum stay for stays arriving on the night')),
    closedToArrival: Type.Optional(Type.Boolean()),
    closedToDeparture: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const AvailabilityUpdatesSchema = Type.Array(AvailabilityUpdateSchema, { minItems: 1, maxItems: 500 });

export const RateUpdateSchema = Type.Object(
  {
    unitTypeId: Slug('Unit type id'),
    ratePlanId: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$', description: 'Rate plan id (default "standard")' })),
    from: CalendarDateString('First night'),
    to: CalendarDateString('Last night, inclusive'),
    amount: Type.String({ maxLength: 32, description: 'Nightly amount as a decimal string, such as "129.00"' }),
  },
  { additionalProperties: false },
);

export const RateUpdatesSchema = Type.Array(RateUpdateSchema, { minItems: 1, maxItems: 500 });

export const CurrencySchema = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' });

/** Reservation fields shared by the webhook and the park-side route. */
export const reservationFields = {
  status: Type.Union([Type.Literal('confirmed'), Type.Literal('cancelled')]),
  unitTypeId: Slug('Unit type id'),
  arrival: CalendarDateString('Arrival day'),
  departure: CalendarDateString('Departure day; not a night of the stay'),
  units: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  guests: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  guest: Type.Optional(
    Type.Object(
      {
        name: Type.Optional(Type.String({ maxLength: 200 })),
        email: Type.Optional(Type.String({ maxLength: 320 })),
        phone: Type.Optional(Type.String({ maxLength: 64 })),
      },
      { additionalProperties: false, description: 'Guest personal data; stored on the reservation only, never in logs or events' },
    ),
  ),
  total: Type.Optional(
    Type.Object({ amount: Type.String({ maxLength: 32 }), currency: CurrencySchema }, { additionalProperties: false }),
  ),
};

export const ReservationIdSchema = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' });
