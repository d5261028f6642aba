"""Lakehouse table outputs, `output.format: delta | iceberg` (docs/storage.md "Delta Lake and Iceberg").

Both are path tables: the table lives at `output.path` and nothing is registered in a metastore.

- Delta: Spark's writer with `format('delta')` at the path; read back the same way.
- Iceberg: a Hadoop catalog (`sparkinfer_iceberg`) whose warehouse is the path's parent folder,
  with the table named by the path's last segment and no namespace, so the table's location is
  exactly `output.path`. The catalog is a runtime setting (set here, before the first use); the
  SQL extensions and the jars come from the spark-submit command (src/spark/tables.ts).

`output.mode`: `error` creates the table (an existing one is refused before inference, like any
output), `overwrite` replaces its rows (and its schema), `append` adds rows (creating the table
the first time).
"""

import os

FORMATS = ('delta', 'iceberg')
ICEBERG_CATALOG = 'sparkinfer_iceberg'


def table_format(job):
    """`delta`, `iceberg`, or None for other outputs."""
    f = job['output']['format']
    return f if f in FORMATS else None


def _split(path):
    """(parent, last segment) of a local path or a URI (s3a://b/k/t, file:///x/t, hdfs://nn/x/t)."""
    p = path.rstrip('/')
    if '://' not in p and not p.startswith('file:'):
        p = os.path.abspath(p)
    parent, _, name = p.rpartition('/')
    if not parent or not name:
        raise ValueError(f'an iceberg output needs a path with a parent folder, got {path!r}')
    return parent, name


def _quote(name):
    return '`' + name.replace('`', '``') + '`'


def iceberg_table(spark, path):
    """The Spark name of the Iceberg table at `path`, its Hadoop catalog configured on this session."""
    parent, name = _split(path)
    base = f'spark.sql.catalog.{ICEBERG_CATALOG}'
    spark.conf.set(base, 'org.apache.iceberg.spark.SparkCatalog')
    spark.conf.set(f'{base}.type', 'hadoop')
    spark.conf.set(f'{base}.warehouse', parent)
    return f'{ICEBERG_CATALOG}.{_quote(name)}'


def delta_table(path):
    """The SQL name of the Delta table at `path` (for MERGE INTO and time travel)."""
    return f'delta.{_quote(path)}'


def table_name(spark, job):
    """The output table's SQL name."""
    path = job['output']['path']
    return delta_table(path) if table_format(job) == 'delta' else iceberg_table(spark, path)


def table_exists(spark, job):
    path = job['output']['path']
    if table_format(job) == 'iceberg':
        return spark.catalog.tableExists(iceberg_table(spark, path))
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path, '_delta_log')
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(p)


def write_table(out_df, job):
    """Writes the inferring DataFrame into the table: one action, one commit of the table."""
    out = job['output']
    parts = out['partition_by']
    if table_format(job) == 'delta':
        mode = 'errorifexists' if out['mode'] == 'error' else out['mode']
        writer = out_df.write.format('delta').mode(mode)
        if out['mode'] == 'overwrite':
            writer = writer.option('overwriteSchema', 'true')
        if parts:
            writer = writer.partitionBy(*parts)
        writer.save(out['path'])
        return
    spark = out_df.sparkSession
    name = iceberg_table(spark, out['path'])
    if out['mode'] == 'append' and spark.catalog.tableExists(name):
        out_df.writeTo(name).append()
        return
    writer = out_df.writeTo(name)
    if parts:
        from pyspark.sql import functions as F

        writer = writer.partitionedBy(*[F.col(c) for c in parts])
    if out['mode'] == 'overwrite':
        writer.createOrReplace()
    else:
        writer.create()


def read_table(spark, job):
    """The table's current rows."""
    if table_format(job) == 'delta':
        return spark.read.format('delta').load(job['output']['path'])
    name = iceberg_table(spark, job['output']['path'])
    spark.catalog.refreshTable(name)
    return spark.table(name)
