/**
 * Lakehouse table outputs, `output.format: delta | iceberg` (docs/storage.md "Delta Lake and
 * Iceberg"), on the CLI side: the jars and the Spark settings a run gets only when its output is
 * such a table.
 *
 * - The jars (delta-spark and delta-storage; iceberg-spark-runtime) are pinned in
 *   scripts/lib/table-jars.txt; setup fetches them into `<cache>/jars/tables/` and a run passes the
 *   ones its format needs with `--jars`, like the cloud jars (storage.ts).
 * - Spark's session extensions (the SQL of MERGE INTO on these tables) are static settings, so
 *   they go on the spark-submit command line; the Iceberg catalog at the output path is set by the
 *   driver (python/sparkinfer/tables.py), which owns the path's table name.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import { cacheDir } from '../launch/paths.ts';
import { packageRoot } from '../install/layout.ts';
import { pinnedJarNames } from './storage.ts';

type Env = Readonly<Record<string, string | undefined>>;
export type TableFormat = 'delta' | 'iceberg';

/** The Maven group of each format's jars in scripts/lib/table-jars.txt. */
const JAR_GROUP: Readonly<Record<TableFormat, string>> = { delta: 'io.delta', iceberg: 'org.apache.iceberg' };

/** The pinned list, in a checkout and in the installed package alike (package.json `files`). */
export function tableJarsList(): string {
  return join(packageRoot(), 'scripts', 'lib', 'table-jars.txt');
}

/** The Spark settings of each format: the SQL extensions, and Delta's catalog for `delta.\`path\`` names. */
const CONF: Readonly<Record<TableFormat, Readonly<Record<string, string>>>> = {
  delta: {
    'spark.sql.extensions': 'io.delta.sql.DeltaSparkSessionExtension',
    'spark.sql.catalog.spark_catalog': 'org.apache.spark.sql.delta.catalog.DeltaCatalog',
  },
  iceberg: { 'spark.sql.extensions': 'org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions' },
};

/** The job's table format, or undefined for file and Hive-table outputs. */
export function tableFormat(job: Pick<Job, 'output'>): TableFormat | undefined {
  const f = job.output.format;
  return f === 'delta' || f === 'iceberg' ? f : undefined;
}

/** `<cache>/jars/tables`: where setup puts them. */
export function tableJarsDir(env: Env = process.env): string {
  return join(cacheDir(env), 'jars', 'tables');
}

/** The jars the job's table format needs (none for other outputs), and the missing ones among them. */
export function tableJars(job: Pick<Job, 'output'>, env: Env = process.env): { jars: string[]; missing: string[] } {
  const f = tableFormat(job);
  const jars = f === undefined ? [] : pinnedJarNames(tableJarsList(), JAR_GROUP[f]).map((n) => join(tableJarsDir(env), n));
  return { jars, missing: jars.filter((j) => !existsSync(j)) };
}

/** The Spark settings of the job's table format (none for other outputs); the job's `spark.conf` wins over them. */
export function tableConf(job: Pick<Job, 'output'>): Record<string, string> {
  const f = tableFormat(job);
  return f === undefined ? {} : { ...CONF[f] };
}
