/**
 * Checks rendered manifests against the real schemas (scripts/k8s-check/schemas.ts): the SparkApplication
 * against the spark-operator CRD, its embedded pod parts (containers, probes, volumes, env,
 * tolerations, security contexts) and the ConfigMap against Kubernetes' core/v1 OpenAPI, plus the
 * apiserver and operator rules that no OpenAPI schema expresses (names, labels, ports, mounts).
 */
import type { LoadedSchemas } from './schemas.ts';
import { show, validateSchema, type OpenApiSchema, type SchemaIssue } from './validate.ts';

const CORE = '#/components/schemas/io.k8s.api.core.v1.';
const META = '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.';

/** Fields of the operator's driver/executor specs that embed core/v1 types, and the type. */
const EMBEDDED: Record<string, string> = {
  initContainers: 'Container',
  sidecars: 'Container',
  env: 'EnvVar',
  envFrom: 'EnvFromSource',
  volumeMounts: 'VolumeMount',
  tolerations: 'Toleration',
  affinity: 'Affinity',
  podSecurityContext: 'PodSecurityContext',
  securityContext: 'SecurityContext',
  lifecycle: 'Lifecycle',
  dnsConfig: 'PodDNSConfig',
  hostAliases: 'HostAlias',
};

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
/** The apiserver's limit on a ConfigMap's data (etcd keeps objects under ~1.5 MiB). */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function coreRef(type: string): OpenApiSchema {
  return { $ref: `${CORE}${type}` };
}

function checkName(name: unknown, path: string, rule: 'label' | 'dns1035' | 'subdomain', issues: SchemaIssue[]): void {
  if (typeof name !== 'string') return;
  const [re, max, what] =
    rule === 'subdomain'
      ? [DNS1123_SUBDOMAIN, 253, 'a DNS-1123 subdomain']
      : rule === 'dns1035'
        ? [DNS1035_LABEL, 63, 'a DNS-1035 label (starts with a letter)']
        : [DNS1123_LABEL, 63, 'a DNS-1123 label'];
  if (!re.test(name) || name.length > max)
    issues.push({ path, message: `expected ${what} of at most ${max} characters, got ${show(name)}` });
}

/** Label keys are `[prefix/]name`, values at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends. */
function checkLabels(labels: unknown, path: string, issues: SchemaIssue[], values: boolean): void {
  if (!isObj(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix !== undefined && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) || name.length > 63 || !LABEL_NAME.test(name)) {
      issues.push({ path: `${path}.${k}`, message: `invalid ${values ? 'label' : 'annotation'} key ${show(k)}` });
    }
    if (values && typeof v === 'string' && v !== '' && (v.length > 63 || !LABEL_NAME.test(v))) {
      issues.push({
        path: `${path}.${k}`,
        message: `invalid label value ${show(v)}: at most 63 characters of letters, digits, '-', '_' and '.', alphanumeric at both ends`,
      });
    }
  }
}

function checkContainer(c: unknown, path: string, init: boolean, issues: SchemaIssue[]): void {
  if (!isObj(c)) return;
  checkName(c.name, `${path}.name`, 'label', issues);
  // Only `Always` exists for containers, and only init containers may set it (native sidecars, 1.29+).
  if (c.restartPolicy !== undefined && (!init || c.restartPolicy !== 'Always')) {
    issues.push({
      path: `${path}.restartPolicy`,
      message: `only init containers may set restartPolicy, and only to "Always"; got ${show(c.restartPolicy)}`,
    });
  }
  if (init && c.restartPolicy !== 'Always') {
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      if (c[probe] !== undefined)
        issues.push({
          path: `${path}.${probe}`,
          message: 'probes are only allowed on init containers with restartPolicy "Always" (sidecars)',
        });
    }
  }
  for (const [i, p] of (Array.isArray(c.ports) ? c.ports : []).entries()) {
    if (
      isObj(p) &&
      typeof p.name === 'string' &&
      (p.name.length > 15 || !IANA_SVC_NAME.test(p.name) || !/[a-z]/.test(p.name) || p.name.includes('--'))
    ) {
      issues.push({
        path: `${path}.ports[${i}].name`,
        message: `expected an IANA service name (at most 15 characters, lowercase, with a letter), got ${show(p.name)}`,
      });
    }
  }
  const res = isObj(c.resources) ? c.resources : {};
  const limits = isObj(res.limits) ? res.limits : {};
  const requests = isObj(res.requests) ? res.requests : {};
  for (const [k, v] of Object.entries(requests)) {
    // Extended resources (GPUs) cannot be overcommitted: a request must equal its limit.
    if (k.includes('/') && !k.startsWith('kubernetes.io/') && String(limits[k]) !== String(v)) {
      issues.push({
        path: `${path}.resources.requests.${k}`,
        message: `extended resource request ${show(v)} must equal its limit ${show(limits[k])}`,
      });
    }
  }
}

/** Every volumeMount must name a volume of `spec.volumes`: the operator's webhook adds only those. */
function checkMounts(mounts: unknown, volumes: Set<string>, path: string, issues: SchemaIssue[]): void {
  for (const [i, m] of (Array.isArray(mounts) ? mounts : []).entries()) {
    if (isObj(m) && typeof m.name === 'string' && !volumes.has(m.name)) {
      issues.push({ path: `${path}[${i}].name`, message: `no volume named ${show(m.name)} in spec.volumes` });
    }
  }
}

function checkPodSpec(
  role: 'driver' | 'executor',
  pod: Obj,
  volumes: Set<string>,
  base: string,
  s: LoadedSchemas,
  issues: SchemaIssue[],
): void {
  const core = (v: unknown, type: string, p: string): void => {
    issues.push(
      ...validateSchema(v, type.startsWith('#') ? { $ref: type } : coreRef(type), { root: s.core, closedEmptyObjects: false, path: p }),
    );
  };
  for (const [field, type] of Object.entries(EMBEDDED)) {
    const v = pod[field];
    if (v === undefined) continue;
    if (Array.isArray(v))
      v.forEach((item, i) => {
        core(item, type, `${base}.${field}[${i}]`);
      });
    else core(v, type, `${base}.${field}`);
  }
  const mainMounts = new Set<string>();
  for (const m of Array.isArray(pod.volumeMounts) ? pod.volumeMounts : [])
    if (isObj(m) && typeof m.name === 'string') mainMounts.add(m.name);
  checkMounts(pod.volumeMounts, volumes, `${base}.volumeMounts`, issues);
  for (const field of ['initContainers', 'sidecars'] as const) {
    for (const [i, c] of (Array.isArray(pod[field]) ? pod[field] : []).entries()) {
      const p = `${base}.${field}[${i}]`;
      checkContainer(c, p, field === 'initContainers', issues);
      if (!isObj(c)) continue;
      checkMounts(c.volumeMounts, volumes, `${p}.volumeMounts`, issues);
      // The webhook adds a volume to the pod only when the Spark container mounts it.
      for (const [j, m] of (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).entries()) {
        if (isObj(m) && typeof m.name === 'string' && volumes.has(m.name) && !mainMounts.has(m.name)) {
          issues.push({
            path: `${p}.volumeMounts[${j}].name`,
            message: `volume ${show(m.name)} is not mounted by the ${role} container, so the operator's webhook won't add it to the pod`,
          });
        }
      }
    }
  }
  checkLabels(pod.labels, `${base}.labels`, issues, true);
  checkLabels(pod.annotations, `${base}.annotations`, issues, false);
  checkLabels(pod.nodeSelector, `${base}.nodeSelector`, issues, true);
  if (pod.serviceAccount !== undefined) checkName(pod.serviceAccount, `${base}.serviceAccount`, 'subdomain', issues);
}

function checkMetadata(obj: Obj, s: LoadedSchemas, issues: SchemaIssue[], nameRule: 'dns1035' | 'subdomain'): void {
  const meta = obj.metadata;
  issues.push(...validateSchema(meta, { $ref: `${META}ObjectMeta` }, { root: s.core, closedEmptyObjects: false, path: '.metadata' }));
  if (!isObj(meta)) return;
  if (typeof meta.name !== 'string') issues.push({ path: '.metadata.name', message: 'required field is missing' });
  checkName(meta.name, '.metadata.name', nameRule, issues);
  checkName(meta.namespace, '.metadata.namespace', 'label', issues);
  checkLabels(meta.labels, '.metadata.labels', issues, true);
  checkLabels(meta.annotations, '.metadata.annotations', issues, false);
}

/** Checks a SparkApplication: CRD schema with unknown fields as errors, core parts, operator rules. */
export function checkSparkApplication(app: unknown, s: LoadedSchemas): SchemaIssue[] {
  // The CRD declares `metadata` as a bare object; the apiserver checks it as ObjectMeta, and so do we, below.
  const crd: OpenApiSchema = {
    ...s.crd,
    properties: { ...s.crd.properties, metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  };
  const issues = validateSchema(app, crd);
  if (!isObj(app)) return issues;
  if (app.apiVersion !== 'sparkoperator.k8s.io/v1beta2')
    issues.push({ path: '.apiVersion', message: `expected "sparkoperator.k8s.io/v1beta2", got ${show(app.apiVersion)}` });
  if (app.kind !== 'SparkApplication') issues.push({ path: '.kind', message: `expected "SparkApplication", got ${show(app.kind)}` });
  // The operator's webhook requires a DNS-1035 label: the name becomes Service names.
  checkMetadata(app, s, issues, 'dns1035');
  const spec = isObj(app.spec) ? app.spec : {};
  const volumes = new Set<string>();
  for (const [i, v] of (Array.isArray(spec.volumes) ? spec.volumes : []).entries()) {
    issues.push(...validateSchema(v, coreRef('Volume'), { root: s.core, closedEmptyObjects: false, path: `.spec.volumes[${i}]` }));
    if (isObj(v) && typeof v.name === 'string') {
      checkName(v.name, `.spec.volumes[${i}].name`, 'label', issues);
      if (volumes.has(v.name)) issues.push({ path: `.spec.volumes[${i}].name`, message: `duplicate volume name ${show(v.name)}` });
      volumes.add(v.name);
    }
  }
  for (const role of ['driver', 'executor'] as const) {
    if (isObj(spec[role])) checkPodSpec(role, spec[role], volumes, `.spec.${role}`, s, issues);
  }
  checkLabels(spec.nodeSelector, '.spec.nodeSelector', issues, true);
  return issues;
}

/** Checks a ConfigMap against core/v1 and the apiserver's key and size rules. */
export function checkConfigMap(cm: unknown, s: LoadedSchemas): SchemaIssue[] {
  const issues = validateSchema(cm, coreRef('ConfigMap'), { root: s.core, closedEmptyObjects: false });
  if (!isObj(cm)) return issues;
  if (cm.apiVersion !== 'v1' || cm.kind !== 'ConfigMap')
    issues.push({ path: '.kind', message: `expected apiVersion v1, kind ConfigMap; got ${show(cm.apiVersion)}, ${show(cm.kind)}` });
  checkMetadata(cm, s, issues, 'subdomain');
  let bytes = 0;
  for (const [k, v] of Object.entries(isObj(cm.data) ? cm.data : {})) {
    if (!CONFIGMAP_KEY.test(k) || k.length > 253) issues.push({ path: `.data.${k}`, message: `invalid ConfigMap key ${show(k)}` });
    bytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
  }
  if (bytes > CONFIGMAP_MAX_BYTES)
    issues.push({ path: '.data', message: `ConfigMap data is ${bytes} bytes, more than the apiserver's ${CONFIGMAP_MAX_BYTES}` });
  return issues;
}

/** The schema whose `x-kubernetes-group-version-kind` names this object's apiVersion and kind. */
function schemaForKind(obj: Obj, s: LoadedSchemas): string | undefined {
  const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', String(obj.apiVersion)];
  for (const [name, schema] of Object.entries(s.core.components.schemas)) {
    const gvks = schema['x-kubernetes-group-version-kind'];
    if (Array.isArray(gvks) && gvks.some((g: Obj) => g.group === group && g.version === version && g.kind === obj.kind)) return name;
  }
  return undefined;
}

/** Any other built-in object (ServiceAccount, PVC, Role…): its OpenAPI schema and the metadata rules. */
export function checkBuiltin(obj: unknown, s: LoadedSchemas): SchemaIssue[] {
  if (!isObj(obj)) return [{ path: '(root)', message: `expected an object, got ${show(obj)}` }];
  const name = schemaForKind(obj, s);
  if (name === undefined) return [{ path: '.kind', message: `no schema for ${show(obj.apiVersion)} ${show(obj.kind)}` }];
  const issues = validateSchema(obj, { $ref: `#/components/schemas/${name}` }, { root: s.core, closedEmptyObjects: false });
  checkMetadata(obj, s, issues, 'subdomain');
  return issues;
}

export interface ManifestIssue extends SchemaIssue {
  /** `SparkApplication/name` or `ConfigMap/name`. */
  object: string;
}

/** Checks every rendered object; returns all issues (empty when all are valid). */
export function checkManifests(objects: readonly unknown[], s: LoadedSchemas): ManifestIssue[] {
  const out: ManifestIssue[] = [];
  for (const obj of objects) {
    const kind = isObj(obj) ? obj.kind : undefined;
    const name = isObj(obj) && isObj(obj.metadata) ? String(obj.metadata.name) : '?';
    const found =
      kind === 'SparkApplication' ? checkSparkApplication(obj, s) : kind === 'ConfigMap' ? checkConfigMap(obj, s) : checkBuiltin(obj, s);
    out.push(...found.map((i) => ({ ...i, object: `${String(kind)}/${name}` })));
  }
  // The CRD embeds core types, so both checks can report the same problem once each.
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.object}\u0000${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `SparkApplication/x .spec.executor.cores: expected …`, one per line. */
export function formatIssues(issues: readonly ManifestIssue[]): string {
  return issues.map((i) => `${i.object} ${i.path}: ${i.message}`).join('\n');
}
