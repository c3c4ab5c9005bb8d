"""Running `mer-bench ARGV` in the test process (in-process models stay visible)."""

from __future__ import annotations

import os
import sys


def cli(argv: list[str], capsys, columns: int | None = 300) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `mer-bench ARGV` run through the console entry point
    (`columns=None`: no $COLUMNS, as in a pipe)."""
    from mer_bench.cli import main

    old, old_columns = sys.argv, os.environ.get("COLUMNS")
    if columns is None:
        os.environ.pop("COLUMNS", None)
    else:
        os.environ["COLUMNS"] = str(columns)  # rich wraps tables to the terminal width
    sys.argv = ["mer-bench", *argv]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
        if old_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old_columns
    out = capsys.readouterr()
    return code, out.out, out.err
