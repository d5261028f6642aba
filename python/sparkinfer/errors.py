"""Driver errors. Codes and exit codes follow docs/architecture.md ("Exit codes", "Error codes")."""


class SparkinferError(Exception):
    """Root error: a stable `code`, a short human `message` and the process exit code."""

    code = 'E_RUNTIME'
    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class SpecError(SparkinferError):
    """A bad job file or setting (exit 2)."""

    code = 'E_SPEC'
    exit_code = 2


class InputError(SparkinferError):
    """Unusable input: a missing column, duplicate keys, output exists (exit 2)."""

    code = 'E_INPUT'
    exit_code = 2


class RuntimeFailure(SparkinferError):
    """The run itself failed: engine not healthy, Spark job failed, failure budget exceeded (exit 1)."""

    code = 'E_RUNTIME'
    exit_code = 1
