/** The job spec: schema (single source of truth), loading with positions, --set, fingerprint. */
export { JobSpec, RESULT_COLUMNS } from './schema.ts';
export type { Job, JobSpecInput } from './schema.ts';
export type { ResolvedJob, RunInfo } from './resolved.ts';
export { formatPath, loadJobFile, parseJobText, showValue } from './load.ts';
export type { LoadOptions } from './load.ts';
export { applyOverrides, parseSetArg, parseSetValue } from './overrides.ts';
export type { SetOverride } from './overrides.ts';
export { canonicalJson, fingerprint, fingerprintContent } from './fingerprint.ts';
export { describeExpected, jobJsonSchema, knownFields, schemaAt } from './json-schema.ts';
export type { JsonSchemaNode } from './json-schema.ts';
export { formatDuration, parseDuration } from './units.ts';
