"""The reference runs on the public MEGC2019 composite, in priority order, resumable.

Runs every flow28 model on HTNet's published flows and faces (a clone of
wangzhifengharrison/HTNet; see docs/real-data.md) under the declared plan of
docs/reference-results.md: first seed 0 of every model under `fixed` (with the legacy
best-on-test concluded from the same models, `--paired`) and under the honest choosing rules,
then seeds 1 and 2 under `fixed`. A run already finished in the store is skipped; an unfinished
one is resumed (`mer-bench run --resume`), so the script can be stopped and started again.

    python benchmarks/reference_runs.py --data-root ~/src/HTNet --store reference.sqlite
    python benchmarks/reference_runs.py ... --only ststnet,offapexnet --passes 1
    python benchmarks/reference_runs.py ... --device cuda --executor fold-parallel --gpu

Models whose card recipe is GPU-sized (HTNet's paper recipe) run only with `--gpu`.
Each run is one `mer-bench run` process; its output goes to this script's output.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

from mer_bench_results import GPU_MODELS, MODELS, megc2019_flows  # the plan, written once
from mer_bench.results.reference import PlannedRun


def plan(models: list[str], passes: int) -> list[PlannedRun]:
    """The planned runs of `models` in priority order: pass 1 is seed 0, pass 2 seeds 1 and 2."""
    return [
        run
        for run in megc2019_flows.planned
        if run.model in models and (passes > 1 or run.seed == 0)
    ]


def stored(store: str, run: PlannedRun, flows_sha256: str | None) -> tuple[str, str] | None:
    """(run id, status) of the latest stored run of `run` on these flows, if any."""
    from pathlib import Path

    from mer_bench.results.store import Store

    if "://" not in store and not Path(store).exists():
        return None

    with Store(store, read_only=True) as db:
        matches = [
            r
            for r in db.runs()
            if r.model == run.model
            and r.selection == run.selection
            and r.seed == run.seed
            and r.protocol == "megc2019"
            and r.source == "flows"
            and not r.provenance.get("paired_with")
            and (
                flows_sha256 is None
                or r.identity.get("data", {}).get("flows_sha256") == flows_sha256
            )
        ]
    if not matches:
        return None
    latest = max(matches, key=lambda r: r.started_at)
    return latest.run_id, latest.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="a clone of HTNet's repository")
    parser.add_argument("--store", required=True, help="results database for the runs")
    parser.add_argument("--only", default="", help="comma-separated models (default: all)")
    parser.add_argument("--passes", type=int, default=2, help="1: seed 0 only; 2: then seeds 1-2")
    parser.add_argument(
        "--rules", default="", help="comma-separated selection rules to run (default: all planned)"
    )
    parser.add_argument("--gpu", action="store_true", help="also the GPU-sized recipes")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="run nothing: write every finished run of the plan (and its paired "
        "runs) as a result file <model>-<selection>-s<seed>.json in DIR",
    )
    parser.add_argument(
        "extra",
        nargs=argparse.REMAINDER,
        help="after --: options for every `mer-bench run` (--workers 1, ...)",
    )
    args = parser.parse_args()
    models = [m for m in (args.only.split(",") if args.only else MODELS) if m]
    if not args.gpu:
        models = [m for m in models if m not in GPU_MODELS]
    extra = [a for a in args.extra if a != "--"]
    flows = flows_digest(args.data_root)
    if args.export:
        return export(args.store, plan(models, args.passes), flows, args.export)
    rules = [r for r in args.rules.split(",") if r]
    for run in plan(models, args.passes):
        if rules and run.selection not in rules:
            continue
        found = None if args.dry_run else stored(args.store, run, flows)
        if found is not None and found[1] == "finished":
            print(
                f"= {run.model} {run.selection} seed {run.seed}: finished ({found[0]})", flush=True
            )
            continue
        if found is not None:
            argv = ["--resume", found[0]]
        else:
            argv = [
                *run.argv(),
                "--protocol",
                "megc2019",
                "--source",
                "flows",
                "--data-root",
                args.data_root,
            ]
        command = ["mer-bench", "run", *argv, "--store", args.store, "-q", *extra]
        print(f"+ {shlex.join(command)}", flush=True)
        if args.dry_run:
            continue
        started = time.perf_counter()
        code = subprocess.call(command)
        print(f"  exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code == 130:
            return 130
    return 0


def export(store: str, runs: list[PlannedRun], flows: str | None, folder: str) -> int:
    """Write the finished runs of `runs` (and the runs paired with them) as result files."""
    import json
    from pathlib import Path

    from mer_bench.results.export import export_json
    from mer_bench.results.store import Store

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with Store(store, read_only=True) as db:
        for run in runs:
            found = stored(store, run, flows)
            if found is None or found[1] != "finished":
                print(f"- {run.model} {run.selection} seed {run.seed}: not finished", flush=True)
                continue
            record = db.run(found[0])
            records = [record] + [
                db.run(i) for i in record.provenance.get("paired_runs", {}).values()
            ]
            for r in records:
                path = out / f"{r.model}-{r.selection}-s{r.seed}.json"
                path.write_text(json.dumps(export_json(db, r), indent=1) + "\n")
                written += 1
                print(f"> {path}", flush=True)
    print(f"{written} result files in {out}")
    return 0


def flows_digest(root: str) -> str | None:
    """The flows' content digest the runs are identified by (None: not computable here)."""
    try:
        from mer_bench.data.sources import make_source
        from mer_bench_protocols.megc2019 import CLASSES
        from mer_bench.core.registry import get_protocol

        source = make_source("flows", data_root=root)
        source.arrays(get_protocol("megc2019").protocol.listed_samples(CLASSES))
        return source.data_identity()["flows_sha256"]
    except Exception as exc:  # a plan can still be printed without the data
        print(f"(flows not read: {exc})", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
