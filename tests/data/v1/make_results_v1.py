"""A small version-1 results database made by the code of commit f5ffd5c."""

import json
import sqlite3
import sys
from pathlib import Path

import torch

sys.path.insert(0, "/work/main/tests")
from conftest import tiny_spec, TINY
from mer_bench.core import registry
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.data.sources import SourceOptions
from mer_bench.results.store import Store
from mer_bench.results.export import export_json
from mer_bench.results.submission import import_submission
import mer_bench.run.executors as executors


def main():
    out = Path("/work/fixturegen/out")
    out.mkdir(exist_ok=True)
    db = out / "results_v1.sqlite"
    if db.exists():
        db.unlink()
    torch.set_num_threads(1)
    registry.register(tiny_spec())
    flows = Path("/work/fixturegen/flows")
    store = Store(db)
    cache = Path("/work/fixturegen/cache")

    def demo(model, selection, epochs, seed=0, difficulty="easy"):
        return RunConfig(
            model=model,
            protocol="megc2019",
            source="demo",
            device="cpu",
            executor="sequential",
            epochs=epochs,
            selection=selection,
            seed=seed,
            source_options=SourceOptions(
                cache_dir=cache, extra={"subjects": 3, "difficulty": difficulty, "progress": False}
            ),
        )

    a = run_benchmark(demo("htnet-tiny", "fixed", 2), store, show_progress=False)
    run_benchmark(demo("htnet-tiny", "best-on-test", 2), store, show_progress=False)
    run_benchmark(demo("htnet-tiny", "fixed", 2, seed=1), store, show_progress=False)
    run_benchmark(demo("svm-hoof", "fixed", None, difficulty="hard"), store, show_progress=False)
    # a flows run of the tiny model (442 predictions)
    run_benchmark(
        RunConfig(
            model=TINY,
            protocol="megc2019",
            source="flows",
            device="cpu",
            executor="sequential",
            epochs=1,
            source_options=SourceOptions(data_root=flows),
        ),
        store,
        show_progress=False,
    )
    # an interrupted run (status running, 1 of 3 folds)
    real = executors.run_fold
    calls = []

    def stop(ctx, fold, on_epoch=None):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(ctx, fold, on_epoch)

    executors.run_fold = stop
    try:
        run_benchmark(demo("htnet-tiny", "fixed", 1, seed=5), store, show_progress=False)
    except KeyboardInterrupt:
        pass
    executors.run_fold = real
    # an imported run: export of run a under another id
    sub = export_json(store, store.run(a.run_id))
    sub["run"]["run_id"] = "imported-copy-of-a"
    p = out / "sub.json"
    p.write_text(json.dumps(sub))
    import_submission(p, store)
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("VACUUM")
    conn.close()
    for r in Store(db).runs():
        print(r.run_id, r.model, r.selection, r.seed, r.status, r.source)
    print(db.stat().st_size)


if __name__ == "__main__":
    main()
