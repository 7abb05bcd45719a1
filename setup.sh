#!/usr/bin/env bash
# One command for a fresh machine: a virtual environment with the CPU build of torch, the
# project and its test tools, and Debian's Chromium for the browser test (when root).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -d .venv ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first and pinned: pip takes the CPU build; a loose requirement could pull a multi-GB CUDA build.
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[dev]"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "setup: could not install chromium; the browser test will be skipped" >&2
fi
# One question, to build the seeds' index (index/) and the copies a first run makes in
# ~/.cache/newsqa (the reader's tokenizer, the language identifier): the first question asked
# after setup is then answered as fast as the next ones.
.venv/bin/qa ask "Combien AWS va-t-il investir au Japon ?" >/dev/null \
  || echo "setup: could not answer a first question; qa will build the index and its caches on first use" >&2
echo "setup: done. Activate with: . .venv/bin/activate"
