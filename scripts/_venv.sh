# Sourced by scripts/demo and scripts/test: makes .venv and installs the
# project into it (editable, with the dev extra) when that is missing or stale.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# Prefer the distribution's python3 (Debian builds it with PGO and LTO, which
# makes pure-Python hot paths ~1.5x faster than a plain source build); PYTHON=
# picks another interpreter.
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        PYTHON=/usr/bin/python3
    fi
fi

_make_venv() {
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 && "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

# A venv without a working pip (Debian's python3 without python3-venv) is remade.
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }; then
    if ! _make_venv; then
        # Debian and Ubuntu ship venv's pip bootstrap separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing python3-venv (needed to make .venv)" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null 2>&1 \
                || { apt-get update -qq >/dev/null 2>&1 \
                     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
        fi
        _make_venv || {
            echo "error: '$PYTHON -m venv' cannot make a virtual environment with pip;" \
                 "install python3-venv (Debian/Ubuntu) or set PYTHON= to another Python 3.10+" >&2
            rm -rf "$VENV"
            exit 1
        }
    fi
fi
# Re-install only when the build's inputs changed since the last install: the
# metadata, setup.py, or the C sources of the compiled parts (built in place).
STAMP="$VENV/.stagebuf-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ] \
    || [ "$ROOT/stagebuf/_arena/_fast.c" -nt "$STAMP" ] \
    || [ "$ROOT/stagebuf/_recording/_fast.c" -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
    # The compiled arena and recording are optional: without a C compiler (or
    # the Python headers) the install goes on in pure Python, and says so here.
    # (The line is setup.py's NOT_BUILT, word for word: tests/test_package.py.)
    "$VENV/bin/python" -c 'import importlib.util, sys
if all(importlib.util.find_spec(f"stagebuf.{p}._fast") is None for p in ("_arena", "_recording")):
    sys.stderr.write("stagebuf: no C compiler or Python headers here, so the arena and the recording run in pure Python\n")'
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
