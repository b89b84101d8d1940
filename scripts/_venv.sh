# Sourced by the scripts: make .venv and install the project with the given extras.
# PYTHON names the interpreter (default: python3, else the newest python3.N that is 3.10+);
# OLLAMA_WIRE_VENV the folder (default: .venv). A venv that no longer runs, has no pip, or is
# on another Python than PYTHON names is made again. The install is editable, so it is done
# again only for new extras or a changed pyproject.toml: a second run needs no index.
VENV="${OLLAMA_WIRE_VENV:-.venv}"
STAMP="$VENV/.ollama-wire-installed"  # one line per install: extras and pyproject's checksum

# Succeed when "$1" runs and is Python 3.10 or newer.
new_enough() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

# Print which installation of Python "$1" is: its base prefix and version.
python_id() {
    "$1" -c 'import sys; print(sys.base_prefix, sys.version)' 2>/dev/null
}

# Print the Python to make the venv with, or say what to do and fail.
find_python() {
    if [ -n "${PYTHON:-}" ]; then
        if new_enough "$PYTHON"; then
            echo "$PYTHON"
            return 0
        fi
        echo "error: PYTHON=$PYTHON is not a Python 3.10 or newer that runs" >&2
        return 1
    fi
    local candidate
    for candidate in python3 python3.14 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$candidate" >/dev/null && new_enough "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    local found="not found"
    if command -v python3 >/dev/null; then
        found="$(python3 --version 2>&1)"
    fi
    echo "error: ollama-wire needs Python 3.10 or newer (python3: $found);" \
        "install one, or name it with PYTHON=/path/to/python3.10" >&2
    return 1
}

# Succeed when the venv runs a new enough Python with pip, the one PYTHON names if it is set.
venv_usable() {
    new_enough "$VENV/bin/python" || return 1
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || return 1
    if [ -n "${PYTHON:-}" ]; then
        [ "$(python_id "$VENV/bin/python")" = "$(python_id "$PYTHON")" ] || return 1
    fi
}

# Succeed when the venv has module "$1" (found, not imported).
has_module() {
    "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('$1') is None)" \
        >/dev/null 2>&1
}

ensure_venv() {
    local extras="$1" python
    if ! venv_usable; then
        python="$(find_python)" || return 1
        if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
            echo "error: $VENV exists and is not a virtual environment:" \
                "move it away, or set OLLAMA_WIRE_VENV to another folder" >&2
            return 1
        fi
        echo "making $VENV with $python ($("$python" --version 2>&1))" >&2
        "$python" -m venv --clear "$VENV" || return 1
        "$VENV/bin/python" -m pip install -q --upgrade 'pip>=24' || return 1
    fi
    local done_line
    done_line="$extras $(cksum < pyproject.toml)"
    if has_module ollama_wire && grep -qxF "$done_line" "$STAMP" 2>/dev/null; then
        return 0
    fi
    case ",$extras," in
        *,local,*)
            if ! has_module llama_cpp; then
                echo "installing ollama-wire[$extras] into $VENV (the first time on a machine," \
                    "llama-cpp-python compiles llama.cpp: about 5-10 minutes on 2 cores)" >&2
            fi
            ;;
    esac
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" || return 1
    echo "$done_line" >> "$STAMP"
}
