/**
 * Pre-run check of `sampling`: a key that the job's engine kind does not document (a typo such as
 * `temperatur`) is a warning with a did-you-mean, and so is a key the adapter will not send to this
 * kind. Warnings only: the key is sent as it always was. Keys under `sampling.extra` are meant and
 * never warned about. The lists and their sources: src/engine/sampling-keys.ts.
 */
import { adapterFor } from '../engine/adapters.ts';
import { closest } from '../jobfile/did-you-mean.ts';
import type { LocatedJob } from '../jobfile/load.ts';
import { anyEngineSamplingKeys, knownSamplingKeys } from '../engine/sampling-keys.ts';
import { engineKindOf } from '../jobfile/schema.ts';
import type { Findings } from './findings.ts';

const ENGINE_KINDS = ['llama-server', 'vllm', 'openai'] as const;

/** Adds to `f` a warning for each `sampling` key the engine kind does not take. */
export function checkSamplingKeys(located: LocatedJob, f: Findings): void {
  const { job, where } = located;
  // Embeddings and OpenAI Batch lines do not use `sampling`.
  if (job.task === 'embed' || job.input.format === 'openai-batch') return;
  const kind = engineKindOf(job);
  const known = knownSamplingKeys(kind);
  const sampling = job.sampling as Record<string, unknown>;
  const dropped = new Set(adapterFor(kind).ignoredKeys(sampling));
  for (const key of Object.keys(sampling)) {
    if (sampling[key] === undefined) continue;
    const at = ['sampling', key];
    if (dropped.has(key)) {
      f.warnings.push(
        where(
          at,
          `warning: engine kind ${kind} does not take ${JSON.stringify(key)}, so it is not sent; put it under sampling.extra to send it anyway`,
          {
            atKey: true,
          },
        ),
      );
    } else if (!known.has(key)) {
      const others = ENGINE_KINDS.filter((k) => knownSamplingKeys(k).has(key));
      const near = closest(key, known) ?? closest(key, anyEngineSamplingKeys());
      const what =
        others.length > 0
          ? `${JSON.stringify(key)} is not a parameter of engine kind ${kind} (${others.join(' and ')} ${others.length > 1 ? 'document' : 'documents'} it)`
          : `unknown sampling key for engine kind ${kind}${near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`;
      f.warnings.push(where(at, `warning: ${what}; it is sent as written; engine-specific keys go under sampling.extra`, { atKey: true }));
    }
  }
}
