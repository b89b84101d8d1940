# Sourced by the scripts: make .venv and install the project with the given extras.
VENV="${OLLAMA_WIRE_VENV:-.venv}"
ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade 'pip>=24'
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]"
}
