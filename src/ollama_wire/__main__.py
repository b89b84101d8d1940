"""Run the command line: `python -m ollama_wire`."""

from __future__ import annotations

import sys

from ollama_wire.cli import main

if __name__ == "__main__":
    sys.exit(main())
