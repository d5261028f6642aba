import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineLoad, parsePrometheus } from '../../src/engine/prometheus.ts';

const MODEL = 'Qwen/Qwen2.5-7B-Instruct';
/** Shaped like vLLM 0.10's /metrics (two data-parallel engines), abridged. */
const VLLM = `# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 11234.0
python_gc_objects_collected_total{generation="1"} 2345.0
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.73e+09
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${MODEL}"} 48.0
vllm:num_requests_running{engine="1",model_name="${MODEL}"} 50.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="${MODEL}"} 3.0
vllm:num_requests_waiting{engine="1",model_name="${MODEL}"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="${MODEL}"} 0.8125
vllm:kv_cache_usage_perc{engine="1",model_name="${MODEL}"} 0.9031
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="${MODEL}"} 0.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="${MODEL}"} 1520.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="${MODEL}"} 9876.5
vllm:e2e_request_latency_seconds_count{engine="0",model_name="${MODEL}"} 1520.0
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="${MODEL}"} 7.0
`;

/** Shaped like llama-server's /metrics (C++ stream formatting: bare integers, `nan`). */
const LLAMA = `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 18234
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 40961
# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds nan
# HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 312.456
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 8
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 5
# HELP llamacpp:spec_decode_num_accepted_tokens_per_pos_total Accepted tokens per draft position
# TYPE llamacpp:spec_decode_num_accepted_tokens_per_pos_total counter
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 12
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="1"} 4
`;

test('parses labels, histograms, comments and number forms', () => {
  const m = parsePrometheus(VLLM);
  assert.deepEqual(m.get('python_gc_objects_collected_total'), [
    { labels: { generation: '0' }, value: 11234 },
    { labels: { generation: '1' }, value: 2345 },
  ]);
  assert.equal(m.get('process_start_time_seconds')?.[0]?.value, 1.73e9);
  const buckets = m.get('vllm:e2e_request_latency_seconds_bucket') ?? [];
  assert.equal(buckets.length, 2);
  assert.deepEqual(buckets[1]?.labels, { engine: '0', le: '+Inf', model_name: MODEL });
  assert.equal(m.get('vllm:e2e_request_latency_seconds_sum')?.[0]?.value, 9876.5);
  assert.equal(m.has('vllm:e2e_request_latency_seconds'), false, 'HELP/TYPE lines are not samples');
});

test('escaped label values, special values, timestamps, CRLF and junk lines', () => {
  const text = [
    'a{path="C:\\\\dir",msg="say \\"hi\\"\\nbye", empty=""} 1 1700000000000',
    'b NaN',
    'c +Inf',
    'd -Inf',
    'e{x="1",} 2.5e-3',
    '  # indented comment',
    'f{unterminated="oops 3',
    'g 12 notatimestamp',
    'h',
    '0bad 1',
    'i{x="1"}4',
    'j 7\r',
  ].join('\n');
  const m = parsePrometheus(text);
  assert.deepEqual(m.get('a'), [{ labels: { path: 'C:\\dir', msg: 'say "hi"\nbye', empty: '' }, value: 1, timestamp: 1_700_000_000_000 }]);
  assert.ok(Number.isNaN(m.get('b')?.[0]?.value));
  assert.equal(m.get('c')?.[0]?.value, Number.POSITIVE_INFINITY);
  assert.equal(m.get('d')?.[0]?.value, Number.NEGATIVE_INFINITY);
  assert.deepEqual(m.get('e'), [{ labels: { x: '1' }, value: 0.0025 }]);
  assert.deepEqual(m.get('i'), [{ labels: { x: '1' }, value: 4 }]);
  assert.equal(m.get('j')?.[0]?.value, 7);
  for (const k of ['f', 'g', 'h', '0bad']) assert.equal(m.has(k), false, k);
  assert.equal(parsePrometheus('').size, 0);
});

test('engineLoad: vLLM sums waiting/running over engines and takes the highest KV usage', () => {
  // The preemption counter (vllm:num_preemptions_total) feeds the window's over-subscription cut.
  assert.deepEqual(engineLoad(VLLM), { source: 'vllm', waiting: 3, running: 98, kvUsage: 0.9031, preempted: 7 });
  // Older vLLM names the KV gauge gpu_cache_usage_perc.
  const old =
    'vllm:num_requests_running{model_name="m"} 2.0\nvllm:num_requests_waiting{model_name="m"} 1.0\nvllm:gpu_cache_usage_perc{model_name="m"} 0.25\n';
  assert.deepEqual(engineLoad(old), { source: 'vllm', waiting: 1, running: 2, kvUsage: 0.25 });
});

test('engineLoad: llama-server reads processing/deferred; no KV metric in this build', () => {
  assert.deepEqual(engineLoad(LLAMA), { source: 'llama-server', waiting: 5, running: 8, kvUsage: undefined });
  const older = `${LLAMA}llamacpp:kv_cache_usage_ratio 0.5\n`;
  assert.equal(engineLoad(older).kvUsage, 0.5);
  // Parsed metrics work as input too.
  assert.deepEqual(engineLoad(parsePrometheus(LLAMA)), engineLoad(LLAMA));
});

test('engineLoad: nothing known → all undefined; NaN gauges are ignored', () => {
  assert.deepEqual(engineLoad('# nothing\nfoo 1\n'), { source: undefined, waiting: undefined, running: undefined, kvUsage: undefined });
  assert.deepEqual(engineLoad('vllm:num_requests_waiting NaN\nvllm:num_requests_running 4\n'), {
    source: 'vllm',
    waiting: undefined,
    running: 4,
    kvUsage: undefined,
  });
});
