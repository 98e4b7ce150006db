#!/bin/sh
# Creates target/pyenv: the Python side of the agent tests (a Pipecat bot and
# twilio-python), pinned, from PyPI, in a venv of its own.
# Usage: hil-tests/python/setup-venv.sh   (from the workspace root, or anywhere)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/pyenv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pipecat-ai[websocket]==1.14.0" \
    "twilio==9.13.0" \
    "uvicorn==0.38.0"
"$venv/bin/python" -c "import pipecat, twilio, fastapi, uvicorn; print('pyenv ready:', '$venv')"
