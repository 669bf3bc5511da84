#!/usr/bin/env bash
# Set up depthforge in ./.venv: torch's CPU build first (a plain 'torch' would pull a multi-GB CUDA build),
# then depthforge with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all,dev]"
echo "depthforge installed in .venv (activate with: source .venv/bin/activate)"
