#!/usr/bin/env bash
# Make (once) a Python 3.10 venv with the real nnabla 1.39 for the interoperability tests; print its python.
# The venv lives in ${NNABLA_VENV:-$HOME/.cache/nnl/nnabla-1.39-venv}. Needs pyenv's 3.10 (or python3.10 on PATH).
set -euo pipefail
venv="${NNABLA_VENV:-$HOME/.cache/nnl/nnabla-1.39-venv}"
if ! "$venv/bin/python" -c "import nnabla" >/dev/null 2>&1; then
    base=""
    if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.10.13/bin/python" ]; then
        base="$(pyenv root)/versions/3.10.13/bin/python"
    elif command -v python3.10 >/dev/null 2>&1; then
        base="$(command -v python3.10)"
    else
        echo "nnabla_venv.sh: no Python 3.10 found (pyenv 3.10.13 or python3.10)" >&2
        exit 1
    fi
    rm -rf "$venv"
    "$base" -m venv "$venv" >&2
    "$venv/bin/pip" install -q nnabla==1.39.0 >&2
    "$venv/bin/python" -c "import nnabla" >/dev/null 2>&1
fi
echo "$venv/bin/python"
