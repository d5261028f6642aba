/**
 * Sample lines of Prometheus/OpenMetrics text as a map from `name{labels}` (the labels as written)
 * to the value: a quick reader for the unit tests and for scrapes in a loop. The real check of the
 * format is prometheus_client's parser (test/helpers/parse_metrics.py).
 */
import assert from 'node:assert/strict';

export function sampleValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(\{.*\}) (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    out.set(`${m[1]}${m[2]}`, m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]));
  }
  return out;
}
