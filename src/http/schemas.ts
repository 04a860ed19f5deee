import { Type } from 'typebox';

/** Ids of parks, unit types, channels and rate plans. */
export const SLUG_PATTERN = '^[a-z0-9-]{2,64}$';

export const Slug = (description: string) =>
  Type.String({ pattern: SLUG_PATTERN, description: `${description}: 2-64 of a-z, 0-9 and "-"` });

export const CalendarDateString = (description: string) =>
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: `${description} (YYYY-MM-DD, park-local)` });

export const ParkParams = Type.Object({ parkId: Slug('Park id') });

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.String(),
    requestId: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, description: 'RFC 9457 problem document' },
);

/** Standard error responses for the OpenAPI document. */
export const problemResponses = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  422: ProblemSchema,
};
