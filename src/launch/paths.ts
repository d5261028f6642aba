/**
 * Where setup (`scripts/setup.sh`) puts the local engine and the demo model, and how a job's
 * `engine.launch.model` becomes a file path. Layout: docs/setup.md.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { RuntimeFailure, SpecError } from '../errors.ts';

/** Cache key of the llama-server build; keep in sync with `LLAMA_BIN_VERSION` in scripts/setup.sh. */
export const LLAMA_SERVER_VERSION = '11434.0.0';

/** Model names that setup fetches, mapped to their file name under `<cache>/models/`. */
export const DEMO_MODELS: Readonly<Record<string, string>> = {
  'smollm2-135m-instruct': 'smollm2-135m-instruct.gguf',
};

type Env = Readonly<Record<string, string | undefined>>;

/** `$SPARKINFER_CACHE`, else `~/.cache/sparkinfer`. */
export function cacheDir(env: Env = process.env): string {
  const dir = env.SPARKINFER_CACHE;
  return dir !== undefined && dir !== '' ? resolve(dir) : join(homedir(), '.cache', 'sparkinfer');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first executable called `name` on `$PATH`, or undefined. */
export function findOnPath(name: string, env: Env = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The llama-server binary: `$SPARKINFER_LLAMA_SERVER` when set (it must exist), else the one setup
 * built into the cache, else `llama-server` on `$PATH`. Throws a RuntimeFailure naming every place tried.
 */
export function llamaServerPath(env: Env = process.env): string {
  const override = env.SPARKINFER_LLAMA_SERVER;
  if (override !== undefined && override !== '') {
    if (isExecutable(override)) return resolve(override);
    throw new RuntimeFailure(`SPARKINFER_LLAMA_SERVER is \`${override}\`, which is not an executable file`);
  }
  const cached = join(cacheDir(env), 'llama-server', LLAMA_SERVER_VERSION, 'llama-server');
  if (isExecutable(cached)) return cached;
  const onPath = findOnPath('llama-server', env);
  if (onPath !== undefined) return onPath;
  throw new RuntimeFailure(
    `llama-server not found: looked at ${cached} (built by \`sparkinfer setup\`) and on PATH; ` +
      'run `sparkinfer setup` (in a checkout: `npm run setup`) or set SPARKINFER_LLAMA_SERVER to a llama-server binary',
  );
}

export interface ResolveModelOptions {
  /** Directory that relative paths are resolved against (the job file's folder). Default: the working directory. */
  baseDir?: string;
  /** Environment for the cache location. Default: `process.env`. */
  env?: Env;
}

/**
 * `smollm2-135m-instruct` → the cached GGUF that setup extracted; anything else → an existing file
 * or directory (`~/` expanded, relative to `baseDir`), as an absolute path. Throws a SpecError that
 * names what was tried.
 */
export function resolveModel(nameOrPath: string, options: ResolveModelOptions = {}): string {
  if (typeof nameOrPath !== 'string' || nameOrPath.trim() === '') {
    throw new SpecError(
      `Expected \`engine.launch.model\` to be a model name or a path, got \`${String(nameOrPath)}\` (${typeof nameOrPath})`,
    );
  }
  const env = options.env ?? process.env;
  const demo = DEMO_MODELS[nameOrPath];
  if (demo !== undefined) {
    const file = join(cacheDir(env), 'models', demo);
    if (existsSync(file)) return file;
    throw new SpecError(
      `model \`${nameOrPath}\` is not in the cache: looked for ${file}; run \`sparkinfer setup\` (in a checkout: \`npm run setup\`) to fetch it`,
    );
  }
  const expanded = nameOrPath.startsWith('~/') ? join(homedir(), nameOrPath.slice(2)) : nameOrPath;
  const path = isAbsolute(expanded) ? expanded : resolve(options.baseDir ?? process.cwd(), expanded);
  if (existsSync(path)) return path;
  throw new SpecError(
    `model \`${nameOrPath}\` not found: it is not a known model name (${Object.keys(DEMO_MODELS).join(', ')}) ` +
      `and there is no file at ${path}`,
  );
}
