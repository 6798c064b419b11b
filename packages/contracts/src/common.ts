import { Type, type TSchema } from '@sinclair/typebox';

/** A closed object: unknown fields are rejected with an error naming them. */
export const Closed = <T extends Record<string, TSchema>>(properties: T, options: object = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

export const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', description: 'An identifier: letters, digits, ".", "_" and "-", at most 128 characters.' });
export const Timestamp = Type.String({ format: 'date-time' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
