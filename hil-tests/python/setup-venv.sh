#!/bin/sh
# Creates target/pyenv: the Python side of the agent tests (a Pipecat bot and
# twilio-python), pinned, from PyPI, in a venv of its own.
# Usage: hil-tests/python/setup-venv.sh   (from the workspace root, or anywhere)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/pyenv"
pins='"pipecat-ai[websocket]==1.14.0" "twilio==9.13.0" "uvicorn==0.38.0"'
# Done already with these pins: nothing to fetch.
if [ -f "$venv/pins" ] && [ "$(cat "$venv/pins")" = "$pins" ]; then
    echo "pyenv ready: $venv"
    exit 0
fi
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "setup-venv.sh: python3 cannot make a venv; install it with: apt-get install python3-venv" >&2
    exit 1
fi
python3 -m venv "$venv"
eval "\"$venv/bin/pip\" install --quiet --disable-pip-version-check $pins"
"$venv/bin/python" -c "import pipecat, twilio, fastapi, uvicorn"
echo "$pins" > "$venv/pins"
echo "pyenv ready: $venv"
