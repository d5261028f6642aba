/** Structured output: the supported JSON Schema subset, its Spark type, and reply validation. */
export { analyzeSchema, engineSchemaProblems, sparkTypeString, sameSparkType, SUPPORTED_FORMATS } from './schema.ts';
export type { SchemaAnalysis, SchemaProblem, SparkField, SparkType } from './schema.ts';
export { compileValidator } from './validate.ts';
export type { SchemaViolation, Validator } from './validate.ts';
export { makeJsonReplyChecker, parseJsonExact, stringifyJsonExact } from './reply.ts';
export type { JsonReplyChecker, JsonReplyFields } from './reply.ts';
