"""The prefix plan (issue 21, docs/prefix-plan.md): where each row is inferred, so that rows whose
prompts share a long prefix meet the same engine, one after another.

A row's prefix key is the values of the prompt's columns in the order they are rendered, all but
the last one (`prefix_columns`; the same rule as `prefixColumns` in src/prompt/analyze.ts): two
rows with the same key render the same text up to the last column. One aggregation over the
prepared input counts the rows and (approximately) the prefix keys; when fewer than MIN_SHARED_FRACTION of the rows share a key with
an earlier row, nothing is planned and the rows are spread as before (round robin). Otherwise the
rows are range-partitioned on (key hash per column level, row key hash) and sorted within their
partition on the same columns:
  - a group's rows are contiguous, in one partition, unless the group straddles a partition bound;
  - partitions are balanced by row count (Spark's range bounds), so a prefix that every row shares,
    or a group bigger than a partition, is split over several partitions and no engine idles;
  - nothing here runs inference: the range bounds come from a sampling job over the prepared
    input, and the TRANSFORM still runs once per row, in the one write action.
"""

from pyspark.sql import functions as F

from sparkinfer.columns import KEY_FIELD, col

# Below this share of rows that repeat an earlier row's prefix key, the plan is skipped: the data
# is (nearly) prefix-free and range partitioning would only cost a sampling pass.
MIN_SHARED_FRACTION = 0.25


def prefix_columns(columns):
    """The columns that form the prefix key: the referenced columns in first-use (render) order,
    all but the last. One column (or none) leaves nothing to group by besides the static text,
    which every row shares anyway. Keep in step with `prefixColumns` in src/prompt/analyze.ts."""
    cols = list(dict.fromkeys(columns))
    return cols[:-1] if len(cols) >= 2 else []


def _levels(pcols):
    """One hash per column level: (c1), (c1, c2), …: sorting on them keeps a trie's order."""
    return [F.xxhash64(*[col(c) for c in pcols[: i + 1]]) for i in range(len(pcols))]


# approx_count_distinct's relative standard deviation: ample for a 25 % threshold.
GROUPS_RSD = 0.02


def group_stats(df, pcols):
    """Rows and distinct prefix keys in one scan without a shuffle (HyperLogLog for the keys: the
    counting pass must cost prefix-free data next to nothing)."""
    r = df.agg(
        F.count(F.lit(1)).alias('rows'), F.approx_count_distinct(F.xxhash64(*[col(c) for c in pcols]), GROUPS_RSD).alias('groups')
    ).first()
    rows = int(r['rows'] or 0)
    return {'rows': rows, 'groups': min(rows, int(r['groups'] or 0))}


def decide(stats):
    """None when the plan is worth applying, else the reason it is skipped."""
    rows, groups = stats['rows'], stats['groups']
    if rows == 0:
        return 'no rows'
    if rows - groups < MIN_SHARED_FRACTION * rows:
        return f'prefix-free: about {groups} prefix keys for {rows} rows (under {MIN_SHARED_FRACTION:.0%} of the rows repeat a key)'
    return None


def plan(df, job, partitions):
    """(planned DataFrame or None, a description for plan.json and the log).

    None means: spread the rows as without a plan (`repartition(partitions)`). With
    `engine.prefix_order: off` there is no plan and no description (None, None); with `auto` it is
    skipped for prompts without a prefix column and for prefix-free data.
    """
    if job['engine'].get('prefix_order', 'off') != 'auto':
        return None, None
    pcols = prefix_columns(job['run']['columns'])
    if not pcols:
        return None, {'applied': False, 'reason': 'the prompt has fewer than two columns: no prefix key'}
    stats = group_stats(df, pcols)
    info = {'columns': pcols, **stats}
    reason = decide(stats)
    if reason is not None:
        return None, {'applied': False, 'reason': reason, **info}
    order = _levels(pcols) + [F.xxhash64(col(KEY_FIELD))]
    planned = df.repartitionByRange(partitions, *order).sortWithinPartitions(*order)
    return planned, {'applied': True, **info}
