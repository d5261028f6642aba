"""Parses metrics text on stdin with prometheus_client's reference parsers and prints the samples
as JSON lines ({"name", "labels", "value"}); exits non-zero on text the parser refuses.
Argument: `openmetrics` (OpenMetrics 1.0) or `text` (Prometheus text 0.0.4).
Used by test/e2e/metrics.test.ts, so that the endpoint is checked by a parser that is not ours."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

fmt = sys.argv[1]
parse = parse_openmetrics if fmt == 'openmetrics' else parse_text
for family in parse(sys.stdin.read()):
    for s in family.samples:
        print(json.dumps({'family': family.name, 'type': family.type, 'name': s.name, 'labels': s.labels, 'value': s.value}))
