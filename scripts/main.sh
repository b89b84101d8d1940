#!/usr/bin/env bash
# Set up .venv and run the end-to-end check (generate, stream, chat, embed).
# Against OLLAMA_HOST when an Ollama answers there; otherwise against the embedded server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
ensure_venv 'local'
exec "$VENV/bin/python" -m ollama_wire verify --auto-serve "$@"
