"""The error codes and exit codes the driver shares with the CLI. Generated from src/errors.ts and
src/exit-codes.ts by `node scripts/gen-contract.ts`; do not edit (scripts/lint.sh fails when it drifts)."""

# The closed list of codes (docs/errors.md), in the order of ERROR_CODES in src/errors.ts.
ERROR_CODES = (
    'E_SPEC',
    'E_INPUT',
    'E_TEMPLATE',
    'E_CONTEXT_LENGTH',
    'E_HTTP_4XX',
    'E_HTTP_5XX',
    'E_TIMEOUT',
    'E_CONNECT',
    'E_RESPONSE_TRUNCATED',
    'E_BAD_RESPONSE',
    'E_RESPONSE_TOO_LARGE',
    'E_LENGTH',
    'E_PARSE_JSON',
    'E_SCHEMA',
    'E_ENGINE_OUTAGE',
    'E_UNSUPPORTED_URL',
    'E_EMBEDDING_DIM',
    'E_RUNTIME',
)

# The exit codes (src/exit-codes.ts EXIT; docs/architecture.md, "Exit codes").
EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130

# The exit code of a failure with each code (src/exit-codes.ts exitCodeOfCode).
EXIT_CODE_OF = {
    'E_SPEC': 2,
    'E_INPUT': 2,
    'E_TEMPLATE': 1,
    'E_CONTEXT_LENGTH': 1,
    'E_HTTP_4XX': 1,
    'E_HTTP_5XX': 1,
    'E_TIMEOUT': 1,
    'E_CONNECT': 1,
    'E_RESPONSE_TRUNCATED': 1,
    'E_BAD_RESPONSE': 1,
    'E_RESPONSE_TOO_LARGE': 1,
    'E_LENGTH': 1,
    'E_PARSE_JSON': 1,
    'E_SCHEMA': 1,
    'E_ENGINE_OUTAGE': 1,
    'E_UNSUPPORTED_URL': 1,
    'E_EMBEDDING_DIM': 1,
    'E_RUNTIME': 1,
}

E_SPEC = 'E_SPEC'
E_INPUT = 'E_INPUT'
E_TEMPLATE = 'E_TEMPLATE'
E_CONTEXT_LENGTH = 'E_CONTEXT_LENGTH'
E_HTTP_4XX = 'E_HTTP_4XX'
E_HTTP_5XX = 'E_HTTP_5XX'
E_TIMEOUT = 'E_TIMEOUT'
E_CONNECT = 'E_CONNECT'
E_RESPONSE_TRUNCATED = 'E_RESPONSE_TRUNCATED'
E_BAD_RESPONSE = 'E_BAD_RESPONSE'
E_RESPONSE_TOO_LARGE = 'E_RESPONSE_TOO_LARGE'
E_LENGTH = 'E_LENGTH'
E_PARSE_JSON = 'E_PARSE_JSON'
E_SCHEMA = 'E_SCHEMA'
E_ENGINE_OUTAGE = 'E_ENGINE_OUTAGE'
E_UNSUPPORTED_URL = 'E_UNSUPPORTED_URL'
E_EMBEDDING_DIM = 'E_EMBEDDING_DIM'
E_RUNTIME = 'E_RUNTIME'
