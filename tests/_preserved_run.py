"""Today's code on the preserved-predictions problem, in a process of its own (tests/test_preserved.py).

    python tests/_preserved_run.py OUT.npz

Runs the tiny CNN and `ststnet` on the `flows` source (conftest's flow folder, megc2019, run seed
0, 2 epochs) under `sequential` and `local`, and writes each run's float32 class probabilities,
rows sorted by sample key, as `<model key>/<executor>`, with the keys and torch's report of the
pins. The test starts it under `tests/_pinned.py`'s environment, which must be in place before
torch loads: a process that has already imported torch cannot be pinned.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from _pinned import pinned_state  # noqa: E402
from conftest import TINY, megc2019_list, tiny_spec, write_flow_folder  # noqa: E402

from mer_bench.core import registry  # noqa: E402
from mer_bench.run.engine import RunConfig, run_benchmark  # noqa: E402
from mer_bench.data.sources import source_options  # noqa: E402
from mer_bench.results.store import Store  # noqa: E402

MODELS = {"tiny": TINY, "ststnet": "ststnet"}
EXECUTORS = ("sequential", "local")


def main(out: Path) -> None:
    torch.set_num_threads(1)  # what the fixture ran with (workers run one thread each)
    registry.register(tiny_spec())
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="preserved_") as folder:
        work = Path(folder)
        flows = write_flow_folder(work / "flows", megc2019_list())
        for key, model in MODELS.items():
            for executor in EXECUTORS:
                config = RunConfig(
                    model=model,
                    protocol="megc2019",
                    source="flows",
                    device="cpu",
                    executor=executor,
                    workers=2,
                    epochs=2,
                    source_options=source_options("flows", data_root=flows),
                )
                with Store(work / f"{key}-{executor}.sqlite") as store:
                    table = store.predictions(run_benchmark(config, store).run_id)
                names = np.array(
                    (table["dataset"] + "/" + table["subject"] + "/" + table["sample"]).tolist()
                )  # str, not object: no pickle
                order = np.argsort(names, kind="stable")
                if "keys" in arrays and not np.array_equal(arrays["keys"], names[order]):
                    raise SystemExit(f"{key}/{executor} stored other samples than the first run")
                arrays["keys"] = names[order]
                arrays[f"{key}/{executor}"] = np.array(table["probs"].tolist(), dtype=np.float32)[
                    order
                ]
    arrays.update({f"pinned_{name}": np.array(value) for name, value in pinned_state().items()})
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
