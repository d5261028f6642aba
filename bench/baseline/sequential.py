"""Today's practice, the program sparkinfer replaces: a PySpark job whose partitions send one
synchronous HTTP request per row, so each task has exactly one request at the engine.

    spark-submit bench/baseline/sequential.py --input bodies.jsonl --url http://HOST/v1/chat/completions \
        --output OUT_DIR --partitions N

The input holds `{"id": ..., "body": "<the exact JSON body sparkinfer sends>"}` per line, so both
arms send byte-identical requests. Prints one JSON line on stdout: rows, completion tokens, failed
rows and the seconds of the inference action (mapPartitions + write).
"""

import argparse
import json
import time
import urllib.request

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--input', required=True)
    ap.add_argument('--url', required=True)
    ap.add_argument('--output', required=True)
    ap.add_argument('--partitions', type=int, required=True)
    a = ap.parse_args()
    spark = SparkSession.builder.appName('sparkinfer-bench-sequential').getOrCreate()
    spark.sparkContext.setLogLevel('WARN')
    url = a.url

    def call_rows(rows):
        for r in rows:
            t = time.monotonic()
            try:
                req = urllib.request.Request(url, data=r['body'].encode('utf-8'), headers={'content-type': 'application/json'})
                with urllib.request.urlopen(req, timeout=600) as resp:
                    out = json.loads(resp.read())
                usage = out.get('usage') or {}
                text = out['choices'][0]['message']['content']
                yield (r['id'], text, int(usage.get('completion_tokens') or 0), None, time.monotonic() - t)
            except Exception as e:  # one bad row must not kill the job
                yield (r['id'], None, 0, str(e)[:200], time.monotonic() - t)

    df = spark.read.json(a.input).select('id', 'body').repartition(a.partitions)
    t0 = time.monotonic()
    out = df.rdd.mapPartitions(call_rows).toDF('id long, text string, completion_tokens long, error string, latency_s double')
    out.write.mode('overwrite').option('ignoreNullFields', 'false').json(a.output)
    infer_s = time.monotonic() - t0
    agg = (
        spark.read.json(a.output)
        .agg(
            F.count('*').alias('rows'),
            F.sum('completion_tokens').alias('tok'),
            F.sum(F.when(F.col('error').isNotNull(), 1).otherwise(0)).alias('failed'),
        )
        .collect()[0]
    )
    print(
        json.dumps(
            {
                'rows': agg['rows'],
                'completion_tokens': int(agg['tok'] or 0),
                'failed': int(agg['failed'] or 0),
                'infer_s': round(infer_s, 3),
            }
        ),
        flush=True,
    )
    spark.stop()


if __name__ == '__main__':
    main()
