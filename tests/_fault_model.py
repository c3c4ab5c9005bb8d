"""The test model of tests/test_faults.py's signal cases, run in a `mer-bench` subprocess: the
tiny CNN, whose builder leaves a file `training-<pid>` in $MER_BENCH_TEST_MARKERS when a worker
starts a fold (so the test signals the driver while every worker trains its first fold)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from conftest import TinyCNN, tiny_spec


def build_marked(num_classes: int) -> TinyCNN:
    folder = os.environ.get("MER_BENCH_TEST_MARKERS")
    if folder:
        Path(folder, f"training-{os.getpid()}").touch()
    return TinyCNN(num_classes)


def main() -> None:
    """`mer-bench ARGV` with the marked tiny model registered (run as a script)."""
    from mer_bench.cli import main as cli_main
    from mer_bench.core import registry

    registry.register(dataclasses.replace(tiny_spec(), build=build_marked))
    sys.argv = ["mer-bench", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
