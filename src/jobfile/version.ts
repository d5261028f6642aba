/**
 * The sparkinfer version, for the image tag (kubernetes.ts) and the traces' `service.version`.
 * A file of its own, with no imports: the worker bundle reads it without loading zod.
 */
export const SPARKINFER_VERSION = '0.1.0';
