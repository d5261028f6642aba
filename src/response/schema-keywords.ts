/**
 * The JSON Schema keywords of the supported subset (structured output): the formats every target
 * engine can constrain, the annotations that are ignored, the keywords the analyzer knows, and the
 * refused ones with the reason given to the user. Read by schema.ts, which re-exports the formats.
 */

/** Formats every engine we target can constrain; the validator checks them too. */
export const SUPPORTED_FORMATS: readonly string[] = ['date', 'time', 'date-time', 'uuid'];

/** Keywords that only annotate: allowed anywhere, ignored. */
export const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$schema',
  '$id',
]);

/** Keywords the subset understands. */
export const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'enum',
  'const',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'anyOf',
  'oneOf',
  '$ref',
  '$defs',
  'definitions',
]);

/** Keywords we know and refuse, with the reason. */
export const REFUSED: Readonly<Record<string, string>> = {
  patternProperties: 'a struct needs fixed property names; use `properties`, or `additionalProperties: {schema}` for a map',
  propertyNames: 'a struct needs fixed property names',
  allOf: 'merge the subschemas into one (engines and Spark need one shape per field)',
  not: 'engines cannot constrain decoding to a negation',
  if: 'conditional schemas have no single Spark type',
  // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here, not a thenable.
  then: 'conditional schemas have no single Spark type',
  else: 'conditional schemas have no single Spark type',
  dependentRequired: 'engines cannot enforce dependencies',
  dependentSchemas: 'engines cannot enforce dependencies',
  dependencies: 'engines cannot enforce dependencies',
  prefixItems: 'tuples have no Spark type (an array holds one element type); use an object',
  contains: 'engines cannot enforce `contains`',
  minContains: 'engines cannot enforce `contains`',
  maxContains: 'engines cannot enforce `contains`',
  uniqueItems: 'engines cannot enforce `uniqueItems`',
  multipleOf: 'engines cannot enforce `multipleOf`',
  minProperties: 'a struct has a fixed set of fields',
  maxProperties: 'a struct has a fixed set of fields',
  unevaluatedProperties: 'not in the supported subset',
  unevaluatedItems: 'not in the supported subset',
  $dynamicRef: 'not in the supported subset',
  $dynamicAnchor: 'not in the supported subset',
  $anchor: 'use `$ref: "#/$defs/Name"`',
  $recursiveRef: 'recursive schemas have no Spark type',
  contentEncoding: 'not in the supported subset',
  contentMediaType: 'not in the supported subset',
  contentSchema: 'not in the supported subset',
  nullable: 'write `type: [T, "null"]` (JSON Schema) instead of the OpenAPI `nullable`',
};
