#!/bin/bash
# Entrypoint of the sparkinfer image (deploy/Dockerfile), run by tini. Spark on Kubernetes starts
# the driver container with `driver <spark-submit args>` and every executor container with
# `executor` plus environment variables (SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, ...); this script
# turns those into the two commands. Anything else is run as given (e.g. `bash`, `node --version`).
# Arguments are passed on as an argv, never re-parsed by a shell.
set -euo pipefail

: "${SPARK_HOME:=/opt/spark}"
role="${1:-}"
[[ $# -gt 0 ]] && shift

case "$role" in
  driver)
    # Client mode inside the driver pod: this process is the driver. It binds to the pod IP,
    # which executors reach through the driver's headless Service.
    exec "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?SPARK_DRIVER_BIND_ADDRESS is not set}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    # Spark passes the executor's JVM options as SPARK_JAVA_OPT_0, _1, ... (in this order).
    java_opts=()
    for i in $(seq 0 999); do
      var="SPARK_JAVA_OPT_$i"
      [[ -n "${!var+x}" ]] || break
      java_opts+=("${!var}")
    done
    classpath="$SPARK_HOME/jars/*"
    [[ -n "${SPARK_CLASSPATH:-}" ]] && classpath="$SPARK_CLASSPATH:$classpath"
    [[ -n "${SPARK_EXTRA_CLASSPATH:-}" ]] && classpath="$classpath:$SPARK_EXTRA_CLASSPATH"
    exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" "${java_opts[@]}" \
      -Xms"${SPARK_EXECUTOR_MEMORY:?}" -Xmx"${SPARK_EXECUTOR_MEMORY}" -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL:?}" --executor-id "${SPARK_EXECUTOR_ID:?}" \
      --cores "${SPARK_EXECUTOR_CORES:?}" --app-id "${SPARK_APPLICATION_ID:?}" \
      --hostname "${SPARK_EXECUTOR_POD_IP:?}" --bind-address "${SPARK_EXECUTOR_POD_IP}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}"
    ;;
  "")
    echo "sparkinfer image: expected \`driver\`, \`executor\` or a command" >&2
    exit 2
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
