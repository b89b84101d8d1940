"""Count the CPU instructions each contender executes per call, under valgrind's callgrind.

    .venv/bin/python bench/instructions.py                  # embed and call, ~11 minutes
    .venv/bin/python bench/instructions.py --measures embed --contenders floor,wire

Time ratios on a shared machine move with what else runs and with each process's memory
layout; an instruction count does not. Each contender's worker (`worker.py`) runs twice
under callgrind, with ``--n`` calls and with ``--n`` plus ``--extra`` calls; the difference
over ``--extra`` is the instructions of one call, without start-up, imports and warm-up.
This counts work, not time: cache misses, system calls and the kernel are not in it, which
is why `run.py` stays the measure and this says whether a gap in it is the client's code.
Needs ``valgrind`` on the PATH (Debian: ``apt install valgrind``); not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path

import run

#: The floor each contender is compared with.
FLOOR_OF = {name: "floor-async" if name in run.ASYNC else "floor" for name in run.LABELS}


def collected(callgrind_stderr: str) -> int:
    """Return the instruction count callgrind reports (``==pid== Collected : N``)."""
    match = re.search(r"Collected\s*:\s*([\d,]+)", callgrind_stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{callgrind_stderr}")
    return int(match.group(1).replace(",", ""))


def per_call(small: int, large: int, extra: int) -> float:
    """Instructions of one call, from the counts of two runs ``extra`` calls apart."""
    if extra <= 0 or large < small:
        raise ValueError(f"cannot take one call from {small} and {large} over {extra} calls")
    return (large - small) / extra


def count(python: Path, measure: str, contender: str, server: run.Server, n: int) -> int:
    """Run one worker under callgrind; return the instructions it executed."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           *run.worker_command(python, measure, contender, server, n, num_predict=20)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=run.BENCH)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not json.loads(lines[-1]).get("ok"):
        raise RuntimeError(f"{contender} {measure} failed:\n{done.stdout}{done.stderr[-2000:]}")
    return collected(done.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measures", default="embed,call", help="of: call, short, embed")
    parser.add_argument("--contenders", default="floor,wire,sdk,floor-async,wire-async,sdk-async")
    parser.add_argument("--n", type=int, default=10, help="calls in the first run")
    parser.add_argument("--extra", type=int, default=30, help="calls the second run adds")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on the PATH (Debian: apt install valgrind)")
    measures = args.measures.split(",")
    wanted = args.contenders.split(",")
    unknown = sorted({*wanted} - set(run.LABELS) | {*measures} - {"call", "short", "embed"})
    if unknown:
        raise SystemExit(f"unknown contender or measure: {', '.join(unknown)}")
    sdk_python = run.venv_python(run.ensure_venv("sdk", [run.SDK_SPEC])) if any(
        c.startswith("sdk") for c in wanted) else run.MAIN_PYTHON
    server = run.Server(run.QUICK)
    try:
        print("| measure | contender | instructions / call | x floor |")
        print("|---|---|---|---|")
        for measure in measures:
            counts: dict[str, float] = {}
            for name in sorted({*wanted, *(FLOOR_OF[c] for c in wanted)},
                               key=list(run.LABELS).index):
                python = sdk_python if name.startswith("sdk") else run.MAIN_PYTHON
                small = count(python, measure, name, server, args.n)
                large = count(python, measure, name, server, args.n + args.extra)
                counts[name] = per_call(small, large, args.extra)
                floor = counts.get(FLOOR_OF[name], counts[name])
                print(f"| {measure} | {run.LABELS[name]} | {counts[name]:,.0f} | "
                      f"{counts[name] / floor:.3f}x |", flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
