"""Driver errors. Codes and exit codes follow docs/architecture.md ("Exit codes") and docs/errors.md;
both come from error_codes.py, generated from the TypeScript list (scripts/gen-contract.ts)."""

from sparkinfer.error_codes import E_INPUT, E_RUNTIME, E_SPEC, EXIT_CODE_OF


class SparkinferError(Exception):
    """Root error: a stable `code`, a short human `message` and the process exit code."""

    code = E_RUNTIME
    exit_code = EXIT_CODE_OF[E_RUNTIME]

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class SpecError(SparkinferError):
    """A bad job file or setting (exit 2)."""

    code = E_SPEC
    exit_code = EXIT_CODE_OF[E_SPEC]


class InputError(SparkinferError):
    """Unusable input: a missing column, duplicate keys, output exists (exit 2)."""

    code = E_INPUT
    exit_code = EXIT_CODE_OF[E_INPUT]


class RuntimeFailure(SparkinferError):
    """The run itself failed: engine not healthy, Spark job failed, failure budget exceeded (exit 1)."""

    code = E_RUNTIME
    exit_code = EXIT_CODE_OF[E_RUNTIME]
