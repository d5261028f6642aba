"""The prefix plan (prefix_plan.py) on a real local Spark: keys once, groups together, partitions
balanced, a global prefix split, prefix-free data left alone, and the driver's single action."""

import collections
import random
import unittest

from helpers import spark_session, worker_rows
from pyspark.sql import functions as F
from sparkinfer import prefix_plan, run_job
from sparkinfer.columns import KEY_FIELD
from test_driver import DriverTestCase


def qa_rows(docs, questions, seed=1):
    """docs × questions rows, shuffled: the questions about one document are spread over the table."""
    rows = [
        {'id': f'd{d}q{q}', 'doc': f'document {d} ' + 'text ' * 50, 'question': f'question {q} about {d}?'}
        for d in range(docs)
        for q in range(questions)
    ]
    random.Random(seed).shuffle(rows)
    return rows


def job_for(columns, order='auto'):
    return {'engine': {'prefix_order': order}, 'run': {'columns': list(columns)}}


class PrefixPlanTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = spark_session()

    def packed(self, rows, columns=('doc', 'question')):
        data = [{KEY_FIELD: r['id'], **{c: r[c] for c in columns}, '_c': None} for r in rows]
        return self.spark.createDataFrame(
            data, f'{KEY_FIELD} string, ' + ', '.join(f'{c} string' for c in columns) + ', _c string'
        ).repartition(3)

    def partitions_of(self, df):
        """Each partition's rows in the order a worker would read them."""
        return df.select(KEY_FIELD, 'doc').rdd.glom().map(lambda rs: [(r[0], r[1]) for r in rs]).collect()

    def test_rule_matches_the_cli(self):
        self.assertEqual(prefix_plan.prefix_columns(['doc', 'question']), ['doc'])
        self.assertEqual(prefix_plan.prefix_columns(['a', 'b', 'a', 'c']), ['a', 'b'])
        self.assertEqual(prefix_plan.prefix_columns(['question']), [])
        self.assertEqual(prefix_plan.prefix_columns([]), [])

    def test_groups_colocated_balanced_and_every_key_once(self):
        rows = qa_rows(32, 8)
        planned, info = prefix_plan.plan(self.packed(rows), job_for(['doc', 'question']), 4)
        self.assertIsNotNone(planned)
        self.assertEqual((info['applied'], info['groups'], info['rows']), (True, 32, 256))
        parts = self.partitions_of(planned)
        keys = [k for p in parts for k, _ in p]
        self.assertEqual(sorted(keys), sorted(r['id'] for r in rows))  # every key exactly once
        sizes = [len(p) for p in parts]
        self.assertEqual(len(sizes), 4)
        self.assertLessEqual(max(sizes) - min(sizes), 8, sizes)  # balanced (bounds at most one group apart)
        where = collections.defaultdict(set)
        for i, p in enumerate(parts):
            for _, doc in p:
                where[doc].add(i)
        # a group straddles at most one partition bound: at most 3 groups are split over 2 partitions
        self.assertTrue(all(len(s) <= 2 for s in where.values()))
        self.assertLessEqual(sum(len(s) > 1 for s in where.values()), 3)
        for p in parts:  # within a partition, a group's rows are contiguous
            seen, last = set(), None
            for _, doc in p:
                if doc != last:
                    self.assertNotIn(doc, seen, 'a group came back after another one')
                    seen.add(doc)
                    last = doc

    def test_a_prefix_every_row_shares_is_split_over_all_partitions(self):
        rows = [{'id': f'r{i}', 'doc': 'the same long instruction', 'question': f'q{i}'} for i in range(200)]
        planned, info = prefix_plan.plan(self.packed(rows), job_for(['doc', 'question']), 4)
        self.assertEqual((info['applied'], info['groups']), (True, 1))
        parts = self.partitions_of(planned)
        self.assertEqual(sorted(k for p in parts for k, _ in p), sorted(r['id'] for r in rows))
        sizes = [len(p) for p in parts]
        self.assertTrue(all(40 <= n <= 60 for n in sizes), sizes)  # no engine idles

    def test_prefix_free_data_is_left_alone(self):
        rows = [{'id': f'r{i}', 'doc': f'unique document {i}', 'question': f'q{i}'} for i in range(120)]
        planned, info = prefix_plan.plan(self.packed(rows), job_for(['doc', 'question']), 4)
        self.assertIsNone(planned)
        self.assertFalse(info['applied'])
        self.assertIn('prefix-free', info['reason'])
        self.assertEqual(info['rows'], 120)
        self.assertGreaterEqual(info['groups'], 114)  # approx_count_distinct, 2 % rsd

    def test_off_and_single_column_prompts_plan_nothing(self):
        df = self.packed(qa_rows(4, 4))
        self.assertEqual(prefix_plan.plan(df, job_for(['doc', 'question'], 'off'), 4), (None, None))
        planned, info = prefix_plan.plan(df, job_for(['question']), 4)
        self.assertIsNone(planned)
        self.assertIn('fewer than two columns', info['reason'])


class PrefixPlanDriverTests(DriverTestCase):
    """The whole driver with the plan on: inference still runs once per row (the single action)."""

    def test_planned_run_infers_each_row_once(self):
        job = self.job(qa_rows(16, 8), columns=('doc', 'question'), key='id', engine={'prefix_order': 'auto'})
        job['prompt']['user'] = '{{ doc }} {{ question }}'
        summary = run_job(job, spark=self.spark)
        self.assertEqual((summary['rows_in'], summary['rows_ok'], summary['distinct_keys_out']), (128, 128, 128))
        plan = self.read_json(job['run']['dir'], 'plan.json')
        self.assertEqual(plan['prefix_plan'], {'applied': True, 'columns': ['doc'], 'rows': 128, 'groups': 16})
        self.assertEqual(worker_rows(self.worker_log), (4, 128))  # one worker per partition, each row once
        out = self.spark.read.parquet(job['output']['path'])
        self.assertEqual(out.select('id').distinct().count(), 128)
        self.assertEqual(out.where(F.col('error_code').isNotNull()).count(), 0)


if __name__ == '__main__':
    unittest.main()
