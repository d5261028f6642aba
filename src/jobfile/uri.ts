/**
 * Path schemes in a job file: which store a path names (`s3a://`, `hdfs://`, a plain local path),
 * and the one rule the schema applies to them, that the run directory is a local or mounted path.
 * Spark-side settings for each store are in src/spark/storage.ts.
 */

/** `s3a` for `s3a://b/k`, `hdfs` for `hdfs://nn/p`; undefined for a plain path. */
export function uriScheme(p: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(p);
  return m?.[1]?.toLowerCase();
}

/**
 * Why `p` cannot hold a run directory, or undefined when it can: workers append their ledgers with
 * plain file writes, so it must be a local path or a mount every executor shares (NFS, a volume).
 */
export function runDirProblem(p: string): string | undefined {
  const scheme = uriScheme(p);
  if (scheme === undefined || scheme === 'file') return undefined;
  return `the run directory must be a local path, or one every executor mounts (NFS, a shared volume): workers append their ledgers with plain file writes, which ${scheme}:// cannot take; leave resume.dir out (the default is local) or give a path, got ${JSON.stringify(p)}`;
}
