#!/usr/bin/env bash
# Install reprlab and everything its reproductions and tests use, on a fresh Debian/Ubuntu
# machine: system data sets and a headless browser (apt), then the package (pip, editable).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    # Fashion-MNIST (full 70k), WordNet (factor coherence), Chromium + driver (browser tests)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        dataset-fashion-mnist wordnet-base chromium chromium-driver >/dev/null
fi
# torch==2.13.0 is pinned in pyproject.toml (the CPU wheel).
python3 -m pip install -q -e ".[test]"
# compile the sparse engine's CPU kernel once (numba caches it on disk; otherwise the first
# sparse_encode of every fresh install compiles for ~30 s)
python3 -c "from reprlab.sparse import _cd; _cd.precompile()"
