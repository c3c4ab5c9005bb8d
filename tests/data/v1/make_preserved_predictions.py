"""Make preserved_predictions_v1.npz with the code of commit f5ffd5c, under pinned CPU arithmetic.

Run with f5ffd5c installed (its `mer_bench` first on the path) and point `--old-tests` at that
checkout's `tests` folder, whose conftest writes the flow folder and defines the tiny CNN:

    git worktree add --detach /tmp/v1 f5ffd5c   # install it in a venv of its own
    python tests/data/v1/make_preserved_predictions.py --old-tests /tmp/v1/tests OUT.npz

The script restarts itself under `tests/_pinned.py`'s environment (ATen and MKL on their AVX2
paths, oneDNN and NNPACK off, one thread), so the stored floats are the ones any AVX2 CPU gives,
and stores torch's report of the pins beside them. It runs each fold the way f5ffd5c's sequential
executor did (`run_fold` in sample order); f5ffd5c's local executor gave the same values.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]


def main(old_tests: Path, out: Path) -> None:
    import tempfile

    import numpy as np

    sys.path.insert(0, str(TESTS))
    from _pinned import pinned_state

    sys.path.insert(0, str(old_tests))
    from conftest import TINY, tiny_spec, write_flow_folder
    from mer_bench.core import registry
    from mer_bench.run.engine import resolve_protocol_data
    from mer_bench.run.executors import FoldContext, run_fold
    from mer_bench.run.folds import loso_folds
    from mer_bench.data.sources import SourceOptions
    from mer_bench_protocols.manifest import read_manifest
    from mer_bench_protocols.megc2019 import CLASSES

    registry.register(tiny_spec())
    flows = write_flow_folder(
        Path(tempfile.mkdtemp(prefix="v1_flows_")), read_manifest("megc2019.csv", CLASSES)
    )
    data = resolve_protocol_data(
        registry.get_protocol("megc2019"), "flows", SourceOptions(data_root=flows)
    )
    keys = (
        data.samples["dataset"]
        + "/"
        + data.samples["subject"].astype(str)
        + "/"
        + data.samples["sample"].astype(str)
    )
    arrays = {}
    for key, model in (("tiny", TINY), ("ststnet", "ststnet")):
        spec = registry.get_model(model)
        recipe = spec.card.recipe.override(epochs=2)
        x = np.ascontiguousarray(
            (spec.prepare_inputs or (lambda a: a.flow))(data.arrays), dtype=np.float32
        )
        context = FoldContext(model, recipe, "fixed", 3, "cpu", x, data.labels)
        probs = np.zeros((len(x), 3), np.float32)
        for fold in loso_folds(data, 0):
            probs[fold.test_idx] = run_fold(context, fold).probs
        arrays[key] = probs
        print(key, "done")
    state = pinned_state()
    np.savez_compressed(
        out,
        keys=np.array(keys.tolist()),
        **arrays,
        **{f"pinned_{name}": np.array(value) for name, value in state.items()},
    )
    print("saved", out, state)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tests", type=Path, required=True)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    if os.environ.get("MER_BENCH_PINNED_MATH") != "1":
        sys.path.insert(0, str(TESTS))
        from _pinned import pinned_environ

        os.execve(sys.executable, [sys.executable, *sys.argv], pinned_environ())
    main(args.old_tests.resolve(), args.out.resolve())
