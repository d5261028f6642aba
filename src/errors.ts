/**
 * One root error class with a stable `code`, one code per class. Codes are a public contract (docs/errors.md):
 * they appear in the output's `error_code` column and in the summary's `errors_by_code`, and the
 * Python driver's list is generated from this one (scripts/gen-contract.ts, python/sparkinfer/error_codes.py).
 */
export const ERROR_CODES = [
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
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** The stable code an error carries, or `fallback` when it carries none of the closed list. */
export function errorCodeOf(err: unknown, fallback: ErrorCode): ErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && KNOWN_CODES.has(code) ? (code as ErrorCode) : fallback;
}

/**
 * The root of every error sparkinfer throws on purpose. Each concrete class has exactly one code,
 * declared as a `readonly code = 'E_…'` field, so a subclass can't change it: the type checker
 * refuses a second literal. Branch on the class (`instanceof`) or on `code`, never on the message.
 */
export abstract class SparkinferError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad job file or setting. The CLI exits 2. */
export class SpecError extends SparkinferError {
  readonly code = 'E_SPEC';
}

/** Unusable input data (missing column, duplicate keys, output exists). The CLI exits 2. */
export class InputError extends SparkinferError {
  readonly code = 'E_INPUT';
}

/** A failure of the run itself (engine unreachable, Spark failed, budget exceeded). The CLI exits 1. */
export class RuntimeFailure extends SparkinferError {
  readonly code = 'E_RUNTIME';
}

/**
 * A programmer error: code passed code a bad option (src/checks.ts). Not the user's job file,
 * which the schema checks first, so not `E_SPEC`: a bug, and the CLI exits 1.
 */
export class BadArgumentError extends SparkinferError {
  readonly code = 'E_RUNTIME';
}

/**
 * A broken invariant inside sparkinfer: a bug, not the job, the input or the engine (a compiled
 * template missing for a field the prompt has). The CLI exits 1.
 */
export class InternalError extends SparkinferError {
  readonly code = 'E_RUNTIME';
}

/** A template failed to render for one row (nothing was sent), or a chat template failed. */
export class TemplateError extends SparkinferError {
  readonly code = 'E_TEMPLATE';
}

/** An OpenAI Batch line whose `url` or method sparkinfer can't serve. Per row. */
export class UnsupportedUrlError extends SparkinferError {
  readonly code = 'E_UNSUPPORTED_URL';
}

/**
 * A system error in words a user reads, with its code: `no space left on device (ENOSPC)`. Node's
 * own message (`ENOSPC: no space left on device, write`) names the syscall, not the file; callers
 * say which file.
 */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : 'EIO';
  switch (code) {
    case 'ENOSPC':
      return 'no space left on device (ENOSPC)';
    case 'EDQUOT':
      return 'disk quota exceeded (EDQUOT)';
    case 'EIO':
      return 'input/output error (EIO)';
    case 'EROFS':
      return 'read-only file system (EROFS)';
    default:
      return `${String(e?.message ?? code)
        .replace(/^[A-Z]+: /, '')
        .replace(/, \w+ .*$/, '')} (${code})`;
  }
}
