/**
 * One root error class with a stable `code`. Codes are a public contract (docs/architecture.md, "Error codes"):
 * they appear in the output's `error_code` column and in the summary's `errors_by_code`.
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

export class SparkinferError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad job file or setting. The CLI exits 2. */
export class SpecError extends SparkinferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SPEC', message, options);
  }
}

/** Unusable input data (missing column, duplicate keys, output exists). The CLI exits 2. */
export class InputError extends SparkinferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INPUT', message, options);
  }
}

/** A failure of the run itself (engine unreachable, Spark failed, budget exceeded). The CLI exits 1. */
export class RuntimeFailure extends SparkinferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_RUNTIME', message, options);
  }
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
