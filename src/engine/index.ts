/** The engine client's public surface. */
export {
  HttpError, ContextLengthError, TimeoutError, ConnectError, TruncatedResponseError, BadResponseError,
  EngineOutageError, errorFromStatus, excerpt,
} from './errors.ts';
export {
  classify, parseRetryAfter, backoffMs, isRetryableStatus, isOutage, retryPolicy, DEFAULT_RETRY_POLICY,
  type RetryPolicy, type RetryDecision,
} from './retry.ts';
export {
  EngineClient, rootUrlOf, type EngineClientOptions, type EngineResponse, type EngineLogger, type RequestOptions,
} from './client.ts';
export { waitForHealth, describeHealthFailure, type WaitForHealthOptions, type HealthResult } from './health.ts';
export {
  adapterFor, type EngineAdapter, type EngineKind, type ChatMessage, type Sampling, type ResponseFormat,
  type Generation, type RequestBody,
} from './adapters.ts';
export { parsePrometheus, engineLoad, type PrometheusSample, type PrometheusMetrics, type EngineLoad } from './prometheus.ts';
export { CircuitBreaker, failureKindOf, type CircuitState, type FailureKind, type CircuitBreakerOptions } from './circuit.ts';
