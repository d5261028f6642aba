/**
 * Where the OpenTelemetry SDK (otel.ts) is loaded from. In a checkout (Node runs the TypeScript
 * sources) it is a plain dynamic import. The shipped bundles (scripts/build.ts) replace this file:
 * otel.ts is bundled apart and embedded as a `data:` URL string, so that the worker, which a run
 * ships as one file, parses none of the SDK unless the run is traced (a string literal costs
 * next to nothing to parse; the SDK's code cost ~70 ms at every worker start).
 */
export const loadOtel = (): Promise<typeof import('./otel.ts')> => import('./otel.ts');
