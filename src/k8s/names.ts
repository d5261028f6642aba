/**
 * Kubernetes names and labels of a run. submit/status/logs/cancel find a run's objects through
 * these, so they are computed in one place.
 */
import { createHash } from 'node:crypto';

/** Label on every object of a run: the run id. `kubectl get sparkapp -l sparkinfer.io/run-id=…`. */
export const RUN_ID_LABEL = 'sparkinfer.io/run-id';
export const JOB_LABEL = 'sparkinfer.io/job';
export const PHASE_LABEL = 'sparkinfer.io/phase';
/** Longest name the operator accepts for a SparkApplication (a DNS-1035 label: Service names derive from it). */
export const MAX_NAME = 63;

/**
 * A DNS-1035 label (lowercase letters, digits and dashes, starting with a letter) of at most
 * `max` characters. A name that must be cut keeps its start and ends with a hash of the whole, so
 * two long names that differ only at the end stay distinct.
 */
export function dnsLabel(raw: string, max = MAX_NAME): string {
  let s = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(s)) s = `s-${s}`.replace(/-+$/, '');
  if (s.length <= max) return s;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 6);
  return `${s.slice(0, max - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

export type Phase = 'prepare' | 'infer';

export interface RunNames {
  /** `<name>-<run stamp>`: the run id, which already starts with the job name. */
  base: string;
  /** ConfigMap holding job.json. */
  configMap: string;
  /** SparkApplications in submission order: one (`phase` undefined) or prepare then infer. */
  apps: { name: string; phase: Phase | undefined }[];
}

/**
 * Names of a run's objects. The SparkApplication is `<name>-<run_id>`; run ids are
 * `<name>-<stamp>-<hex>` already, so the name is not repeated. Re-applying a completed
 * application is then a no-op, and every run gets fresh objects.
 */
export function runNames(jobName: string, runId: string, phases: 'one' | 'two'): RunNames {
  const base = dnsLabel(runId.startsWith(`${jobName}-`) ? runId : `${jobName}-${runId}`);
  const apps =
    phases === 'two'
      ? (['prepare', 'infer'] as const).map((phase) => ({ name: dnsLabel(`${base}-${phase}`), phase }))
      : [{ name: base, phase: undefined }];
  return { base, configMap: dnsLabel(`${base}-job`), apps };
}

/** A label value: at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends. */
export function labelValue(raw: string): string {
  const s = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63);
  return s.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}
