/**
 * The real schemas rendered manifests are checked against, fetched from the Go module proxy and
 * cached (`${SPARKINFER_CACHE:-~/.cache/sparkinfer}`):
 * - the SparkApplication CRD from `github.com/kubeflow/spark-operator/v2` (its `openAPIV3Schema`);
 * - Kubernetes' own core/v1 OpenAPI v3 document from `k8s.io/kubernetes`
 *   (`api/openapi-spec/v3/api__v1_openapi.json`). `k8s.io/api` ships no schemas, and the copies in
 *   client-go / kubectl test data are from 1.27, before native sidecars (no `restartPolicy` on containers).
 *
 * Both module zips are verified against the `h1:` hashes that sum.golang.org publishes, pinned here.
 * Core schemas are pinned to Kubernetes 1.29, the oldest version sparkinfer supports (native sidecars
 * are on by default from 1.29), so a field that only newer clusters know is reported.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { goModuleZipHash, readZip } from './zip.ts';
import type { OpenApiSchema } from './validate.ts';

export interface PinnedModule {
  module: string;
  version: string;
  /** `h1:` hash from sum.golang.org. */
  h1: string;
  /** Paths of the files we need inside the module. */
  files: string[];
}

/** spark-operator v2.5.2: its CRD embeds core/v1 from k8s.io/api v0.32 (init containers have `restartPolicy`). */
export const SPARK_OPERATOR: PinnedModule = {
  module: 'github.com/kubeflow/spark-operator/v2',
  version: 'v2.5.2',
  h1: 'h1:6nX2UhwSfnYi1mtwczgFfJTMeLSL/1ajTvkFe8R7Vdc=',
  files: ['config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml'],
};

export const KUBERNETES: PinnedModule = {
  module: 'k8s.io/kubernetes',
  version: 'v1.29.15',
  h1: 'h1:hLcyf3XmxtfkubCEmmPX5QVD7lDclXjvEUrJeP283LM=',
  // core/v1 (containers, probes, volumes, ConfigMap, PVC) and RBAC (deploy/k8s/prerequisites.yaml).
  files: ['api/openapi-spec/v3/api__v1_openapi.json', 'api/openapi-spec/v3/apis__rbac.authorization.k8s.io__v1_openapi.json'],
};

export const GO_PROXY = 'https://proxy.golang.org';

type Env = Readonly<Record<string, string | undefined>>;

export interface FetchSchemasOptions {
  /** Cache root. Default `$SPARKINFER_CACHE`, else `~/.cache/sparkinfer`. */
  cacheDir?: string;
  /** Go module proxy base URL. Default `$GOPROXY`'s first URL entry, else {@link GO_PROXY}. */
  proxy?: string;
  /** Injected for tests. Default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Progress lines (stderr in the script). Default: silent. */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** The modules to fetch. Default {@link SPARK_OPERATOR} and {@link KUBERNETES} (tests pass their own). */
  modules?: { sparkOperator: PinnedModule; kubernetes: PinnedModule };
}

export interface SchemaFiles {
  /** `<cache>/crds/<version>/sparkapplication.schema.json`: the CRD's openAPIV3Schema (v1beta2). */
  crdSchema: string;
  /** `<cache>/crds/<version>/sparkoperator.k8s.io_sparkapplications.yaml`: the CRD as shipped. */
  crdYaml: string;
  /** `<cache>/openapi/kubernetes-<version>/<name>_openapi.json`: core/v1 first, then RBAC. */
  core: string[];
}

export function defaultCacheDir(env: Env = process.env): string {
  const dir = env.SPARKINFER_CACHE;
  return dir !== undefined && dir !== '' ? resolve(dir) : join(homedir(), '.cache', 'sparkinfer');
}

export function schemaFiles(
  cacheDir: string = defaultCacheDir(),
  modules = { sparkOperator: SPARK_OPERATOR, kubernetes: KUBERNETES },
): SchemaFiles {
  const crdDir = join(cacheDir, 'crds', modules.sparkOperator.version);
  return {
    crdSchema: join(crdDir, 'sparkapplication.schema.json'),
    crdYaml: join(crdDir, 'sparkoperator.k8s.io_sparkapplications.yaml'),
    core: modules.kubernetes.files.map((f) => join(cacheDir, 'openapi', `kubernetes-${modules.kubernetes.version}`, basename(f))),
  };
}

function proxyFromEnv(env: Env): string {
  // GOPROXY is a comma/pipe list that may hold `direct` and `off`; take its first URL.
  const first = (env.GOPROXY ?? '')
    .split(/[,|]/)
    .map((s) => s.trim())
    .find((s) => /^https?:\/\//.test(s));
  return (first ?? GO_PROXY).replace(/\/+$/, '');
}

/** Go proxy paths escape capital letters as `!lower`. */
function escapeModule(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

async function download(url: string, o: FetchSchemasOptions): Promise<Buffer> {
  const f = o.fetch ?? globalThis.fetch;
  const res = await f(url, o.signal !== undefined ? { signal: o.signal } : {});
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Downloads a pinned module zip, checks its h1 hash and returns the wanted files, in order. */
export async function fetchModuleFiles(m: PinnedModule, o: FetchSchemasOptions = {}): Promise<Buffer[]> {
  const proxy = (o.proxy ?? proxyFromEnv(process.env)).replace(/\/+$/, '');
  const url = `${proxy}/${escapeModule(m.module)}/@v/${m.version}.zip`;
  o.log?.(`fetching ${m.module}@${m.version} from ${proxy}`);
  const entries = readZip(await download(url, o));
  const h1 = goModuleZipHash(entries);
  if (h1 !== m.h1) throw new Error(`${m.module}@${m.version}: checksum mismatch: sum.golang.org has ${m.h1}, the download hashes to ${h1}`);
  return m.files.map((file) => {
    const entry = entries.find((e) => e.name === `${m.module}@${m.version}/${file}`);
    if (entry === undefined) throw new Error(`${m.module}@${m.version} has no ${file}`);
    return entry.read();
  });
}

function writeAtomic(path: string, data: string | Buffer): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The CRD's served version's openAPIV3Schema, from the CRD YAML. */
export function crdSchemaOf(crdYaml: string, version = 'v1beta2'): OpenApiSchema {
  const crd = parseYaml(crdYaml) as {
    kind?: string;
    spec?: { versions?: { name: string; schema?: { openAPIV3Schema?: OpenApiSchema } }[] };
  };
  if (crd.kind !== 'CustomResourceDefinition') throw new Error(`expected a CustomResourceDefinition, got kind ${JSON.stringify(crd.kind)}`);
  const schema = crd.spec?.versions?.find((v) => v.name === version)?.schema?.openAPIV3Schema;
  if (schema === undefined) throw new Error(`the CRD has no openAPIV3Schema for ${version}`);
  return schema;
}

/**
 * Makes sure both schemas are in the cache, fetching what is missing. Idempotent; files are
 * written atomically, so an interrupted fetch never leaves a truncated schema behind.
 */
export async function ensureSchemas(o: FetchSchemasOptions = {}): Promise<SchemaFiles> {
  const modules = o.modules ?? { sparkOperator: SPARK_OPERATOR, kubernetes: KUBERNETES };
  const files = schemaFiles(o.cacheDir ?? defaultCacheDir(), modules);
  if (!existsSync(files.crdSchema) || !existsSync(files.crdYaml)) {
    const [crd] = await fetchModuleFiles(modules.sparkOperator, o);
    const yaml = (crd ?? Buffer.alloc(0)).toString('utf8');
    const schema = crdSchemaOf(yaml);
    writeAtomic(files.crdYaml, yaml);
    writeAtomic(files.crdSchema, JSON.stringify(schema));
  }
  if (!files.core.every((f) => existsSync(f))) {
    const docs = await fetchModuleFiles(modules.kubernetes, o);
    for (const doc of docs) JSON.parse(doc.toString('utf8')); // each must parse before it is cached
    docs.forEach((doc, i) => {
      writeAtomic(files.core[i] ?? '', doc);
    });
  }
  return files;
}

/** Kubernetes' OpenAPI documents merged into one (`components.schemas` resolve `$ref`s). */
export interface CoreOpenApi {
  components: { schemas: Record<string, OpenApiSchema> };
}

export interface LoadedSchemas {
  crd: OpenApiSchema;
  core: CoreOpenApi;
}

/** Reads cached schemas (after {@link ensureSchemas}). */
export function loadSchemas(files: SchemaFiles): LoadedSchemas {
  return {
    crd: JSON.parse(readFileSync(files.crdSchema, 'utf8')) as OpenApiSchema,
    core: {
      components: {
        schemas: Object.assign(
          {},
          ...files.core.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as CoreOpenApi).components.schemas),
        ) as Record<string, OpenApiSchema>,
      },
    },
  };
}
