/**
 * Fetches (once) and caches the schemas that rendered Kubernetes manifests are checked against:
 * the SparkApplication CRD of spark-operator and Kubernetes' core/v1 OpenAPI, both from the Go
 * module proxy, verified against sum.golang.org's hashes. Versions are pinned in scripts/k8s-check/schemas.ts.
 *
 *   node scripts/fetch-crd.ts            # prints the cached paths (JSON)
 *   SPARKINFER_CACHE=/tmp/c node scripts/fetch-crd.ts
 *   GOPROXY=https://goproxy.example.com node scripts/fetch-crd.ts
 *
 * Exit 0 when both are cached, 1 when a download or a checksum failed.
 */
import { KUBERNETES, SPARK_OPERATOR, ensureSchemas } from './k8s-check/schemas.ts';

try {
  const t0 = Date.now();
  const files = await ensureSchemas({ log: (l) => process.stderr.write(`fetch-crd: ${l}\n`) });
  process.stdout.write(
    `${JSON.stringify({ spark_operator: SPARK_OPERATOR.version, kubernetes: KUBERNETES.version, ...files, ms: Date.now() - t0 })}\n`,
  );
} catch (err) {
  process.stderr.write(`fetch-crd: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
