/**
 * The sampling keys each engine kind documents, for `validate`'s warning about a key that no engine
 * of that kind knows (`temperatur: 0.7`). A key outside these lists is still sent (sparkinfer has
 * always passed unknown keys through), but with a warning and a did-you-mean; engine-specific keys
 * that are meant go under `sampling.extra`, which is merged into the body as written and never
 * warned about. The lists hold request-body parameters that shape generation; what sparkinfer sets
 * itself (`model`, `messages`, `prompt`, `response_format`) is left out.
 */
import type { EngineKind } from './adapters.ts';

/**
 * OpenAI's Chat Completions and (legacy) Completions request parameters:
 * https://platform.openai.com/docs/api-reference/chat/create and
 * https://platform.openai.com/docs/api-reference/completions/create
 */
export const OPENAI_SAMPLING_KEYS: readonly string[] = [
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'stop',
  'logit_bias',
  'user',
  'n',
  'best_of',
  'stream',
  'stream_options',
  'logprobs',
  'top_logprobs',
  'echo',
  'suffix',
  'reasoning_effort',
  'verbosity',
  'service_tier',
  'metadata',
  'store',
  'prediction',
  'modalities',
  'audio',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'web_search_options',
  'safety_identifier',
  'prompt_cache_key',
];

/**
 * vLLM's "Extra Parameters" of its OpenAI-compatible server (the sampling and chat extras of
 * `ChatCompletionRequest` / `CompletionRequest`):
 * https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#extra-parameters
 * and `SamplingParams`: https://docs.vllm.ai/en/latest/api/vllm/sampling_params.html
 */
export const VLLM_EXTRA_KEYS: readonly string[] = [
  'top_k',
  'min_p',
  'repetition_penalty',
  'length_penalty',
  'use_beam_search',
  'stop_token_ids',
  'include_stop_str_in_output',
  'ignore_eos',
  'min_tokens',
  'skip_special_tokens',
  'spaces_between_special_tokens',
  'truncate_prompt_tokens',
  'prompt_logprobs',
  'allowed_token_ids',
  'bad_words',
  'add_generation_prompt',
  'continue_final_message',
  'add_special_tokens',
  'documents',
  'chat_template',
  'chat_template_kwargs',
  'mm_processor_kwargs',
  'guided_json',
  'guided_regex',
  'guided_choice',
  'guided_grammar',
  'guided_decoding_backend',
  'guided_whitespace_pattern',
  'structured_outputs',
  'priority',
  'request_id',
  'return_tokens_as_token_ids',
  'return_token_ids',
  'cache_salt',
  'kv_transfer_params',
  'vllm_xargs',
  'logits_processors',
];

/**
 * llama-server's own generation options (`POST /completion`, which its OpenAI-compatible endpoints
 * also read): https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md
 */
export const LLAMA_SERVER_EXTRA_KEYS: readonly string[] = [
  'top_k',
  'min_p',
  'typical_p',
  'repeat_penalty',
  'repeat_last_n',
  'dynatemp_range',
  'dynatemp_exponent',
  'mirostat',
  'mirostat_tau',
  'mirostat_eta',
  'dry_multiplier',
  'dry_base',
  'dry_allowed_length',
  'dry_penalty_last_n',
  'dry_sequence_breakers',
  'xtc_probability',
  'xtc_threshold',
  'top_n_sigma',
  'n_predict',
  'n_keep',
  'n_indent',
  'n_probs',
  'min_keep',
  'ignore_eos',
  'grammar',
  'json_schema',
  'samplers',
  'cache_prompt',
  'id_slot',
  't_max_predict_ms',
  'return_tokens',
  'post_sampling_probs',
  'timings_per_token',
  'response_fields',
  'lora',
  'chat_template_kwargs',
  'reasoning_format',
  'parse_tool_calls',
];

/**
 * Keys sparkinfer itself names in `sampling` (src/jobfile/schema.ts): `repetition_penalty` becomes
 * llama-server's `repeat_penalty`, and `extra` is the pass-through mapping.
 */
const SPARKINFER_KEYS: readonly string[] = ['repetition_penalty', 'ignore_eos', 'extra'];

const KNOWN: Record<EngineKind, ReadonlySet<string>> = {
  openai: new Set([...OPENAI_SAMPLING_KEYS, ...SPARKINFER_KEYS]),
  vllm: new Set([...OPENAI_SAMPLING_KEYS, ...VLLM_EXTRA_KEYS, ...SPARKINFER_KEYS]),
  'llama-server': new Set([...OPENAI_SAMPLING_KEYS, ...LLAMA_SERVER_EXTRA_KEYS, ...SPARKINFER_KEYS]),
};

/** The `sampling` keys that engines of `kind` document (and sparkinfer's own). */
export function knownSamplingKeys(kind: EngineKind): ReadonlySet<string> {
  return KNOWN[kind];
}

/** Every key some engine documents, for a did-you-mean that also catches a key of another engine. */
export function anyEngineSamplingKeys(): ReadonlySet<string> {
  return new Set([...KNOWN.openai, ...KNOWN.vllm, ...KNOWN['llama-server']]);
}
