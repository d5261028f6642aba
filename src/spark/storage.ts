/**
 * Where users keep their data: object stores (s3a://) and HDFS, as Spark sees them (docs/storage.md).
 *
 * - The jars s3a:// needs (hadoop-aws, the AWS SDK v2 modules it uses, spark-hadoop-cloud for the
 *   S3A committers) are pinned in scripts/lib/cloud-jars.txt; setup fetches them into
 *   `<cache>/jars/cloud/`, and every local and standalone run passes them with `--jars` (which
 *   leaves the driver JVM's class path, and so its class-data archive, as it is).
 * - The Spark settings a job gets for them: credentials from the standard AWS chain, the job's
 *   `storage:` section as fs.s3a.* options, and, for an s3a:// output, the S3A magic committer
 *   through Spark's cloud commit protocol (exactly once on a store without atomic rename).
 * - The run directory is plain files that every worker appends to: it never lives on a URI store.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import { uriScheme } from '../jobfile/uri.ts';

import { cacheDir } from '../launch/paths.ts';
import { packageRoot } from '../install/layout.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The pinned list, in a checkout and in the installed package alike (package.json `files`). */
export function cloudJarsList(): string {
  return join(packageRoot(), 'scripts', 'lib', 'cloud-jars.txt');
}

/** Schemes whose paths the S3A connector serves. `s3://` and `s3n://` are not mapped to it: use s3a://. */
export function isS3a(p: string | undefined): boolean {
  return p !== undefined && uriScheme(p) === 's3a';
}

/** The jar file names of cloud-jars.txt (`artifact-version.jar`), in list order. */
export function cloudJarNames(listFile = cloudJarsList()): string[] {
  return pinnedJarNames(listFile);
}

/** The jar file names (`artifact-version.jar`) of a pinned list as maven_fetch.py reads it, in list order; `group`: only that Maven group's. */
export function pinnedJarNames(listFile: string, group?: string): string[] {
  return readFileSync(listFile, 'utf8')
    .split('\n')
    .flatMap((raw) => {
      const line = raw.split('#', 1)[0]?.trim() ?? '';
      if (line === '') return [];
      const [g, artifact, version] = (line.split(/\s+/)[0] ?? '').split(':');
      if (group !== undefined && g !== group) return [];
      return artifact !== undefined && version !== undefined ? [`${artifact}-${version}.jar`] : [];
    });
}

/** `<cache>/jars/cloud`: where setup puts them. */
export function cloudJarsDir(env: Env = process.env): string {
  return join(cacheDir(env), 'jars', 'cloud');
}

/** The cloud jars when setup fetched all of them, else `missing` names the absent ones. */
export function cloudJars(env: Env = process.env): { jars: string[]; missing: string[] } {
  const dir = cloudJarsDir(env);
  const jars = cloudJarNames().map((n) => join(dir, n));
  return { jars, missing: jars.filter((j) => !existsSync(j)) };
}

/** S3A's own providers first (keys in fs.s3a.* options), then the AWS SDK's default chain: environment, system properties, web identity (Kubernetes IRSA), profile files, container and instance credentials. */
export const S3A_CREDENTIAL_PROVIDERS = [
  'org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider',
  'org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider',
  'software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider',
].join(',');

/**
 * The S3A committer through Spark's cloud commit protocol (spark-hadoop-cloud). `magic`: each task
 * writes its files as multipart uploads that stay invisible until the job commit completes them,
 * so nothing is renamed and a killed job leaves no visible data (docs/storage.md).
 */
export const S3A_COMMITTER_CONF: Readonly<Record<string, string>> = {
  'spark.hadoop.mapreduce.outputcommitter.factory.scheme.s3a': 'org.apache.hadoop.fs.s3a.commit.S3ACommitterFactory',
  'spark.hadoop.fs.s3a.committer.name': 'magic',
  'spark.sql.sources.commitProtocolClass': 'org.apache.spark.internal.io.cloud.PathOutputCommitProtocol',
  'spark.sql.parquet.output.committer.class': 'org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter',
};

/** Whether the job reads or writes s3a:// (input, output or the `storage:` section). */
export function usesS3a(job: Job): boolean {
  return isS3a(job.input.path) || isS3a(job.output.path) || job.storage !== undefined;
}

/**
 * Spark settings for the job's storage; the job's own `spark.conf` is applied after them and wins.
 * Credentials never appear here: they come from the environment (or the job's own conf).
 */
export function storageConf(job: Job): Record<string, string> {
  const conf: Record<string, string> = {
    'spark.hadoop.fs.s3a.aws.credentials.provider': S3A_CREDENTIAL_PROVIDERS,
  };
  const s = job.storage;
  if (s?.endpoint !== undefined) conf['spark.hadoop.fs.s3a.endpoint'] = s.endpoint;
  if (s?.region !== undefined) conf['spark.hadoop.fs.s3a.endpoint.region'] = s.region;
  if (s?.path_style !== undefined) conf['spark.hadoop.fs.s3a.path.style.access'] = String(s.path_style);
  if (isS3a(job.output.path)) Object.assign(conf, S3A_COMMITTER_CONF);
  return conf;
}
