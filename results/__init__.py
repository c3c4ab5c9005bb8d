"""mer-bench's reference results: the runs the project computed on public data.

`megc2019-flows` holds one export file per run on the MEGC2019 composite's public inputs (HTNet's
published flows and face images, docs/real-data.md), following the plan declared before any run
(docs/reference-results.md). The plan is written here once: `benchmarks/reference_runs.py` runs
it, and the board and `mer-bench table` say "not computed yet" for each planned run without a file.
"""

from __future__ import annotations

from mer_bench.results.reference import PlannedRun, ReferenceSet

#: Models whose card recipe needs a GPU (days on a CPU): HTNet's paper recipe.
GPU_MODELS = ("htnet", "htnet-refcrop")
#: Every flow28 model of the reference table, cheapest first (the order runs are computed in).
MODELS = (
    "svm-hoof",
    "htnet-tiny",
    "offapexnet",
    "htnet-small",
    "ststnet",
    "vit-tiny-flow",
    "dual-inception",
    "resnet18-flow",
    *GPU_MODELS,
)
#: Models fitted once (no epochs): only `fixed` applies, there is no epoch to leak, and they
#: are deterministic (one seed).
ESTIMATORS = ("svm-hoof",)
#: The honest choosing rules measured on real data (declared before any was run on it).
CHOOSING = ("val-subjects", "nested")
#: Models cheap enough on a CPU for both choosing rules; the others get `val-subjects` (about
#: 1.2x a fixed run; nested, with 5 inner folds, costs about 6x).
BOTH_RULES = ("htnet-tiny", "offapexnet", "ststnet", "htnet-small")
AFFORDABLE_RULE = "val-subjects"
SEEDS = (0, 1, 2)


def megc2019_plan(models: tuple[str, ...] = MODELS) -> tuple[PlannedRun, ...]:
    """The plan in priority order: seed 0 of every model under every rule (best-on-test
    concluded from the fixed run's own models), then seeds 1 and 2 under fixed."""
    first: list[PlannedRun] = []
    second: list[PlannedRun] = []
    for model in models:
        gpu = model in GPU_MODELS
        if model in ESTIMATORS:
            # Deterministic (the seed is accepted and unused): seeds 1 and 2 repeat seed 0's
            # predictions exactly (measured: identical files), and the importer rightly refuses a
            # second run with the same predictions, so one seed is the whole result.
            first.append(PlannedRun(model, "fixed", 0))
            continue
        first.append(PlannedRun(model, "fixed", 0, ("best-on-test",), gpu))
        rules = CHOOSING if model in BOTH_RULES else (AFFORDABLE_RULE,)
        first += [PlannedRun(model, rule, 0, (), gpu) for rule in rules]
        second += [PlannedRun(model, "fixed", s, ("best-on-test",), gpu) for s in SEEDS[1:]]
    return tuple(first + second)


megc2019_flows = ReferenceSet(
    name="megc2019-flows",
    protocol="megc2019",
    source="flows",
    package="mer_bench_results",
    folder="megc2019-flows",
    planned=megc2019_plan(),
    data_hint="HTNet",
    gpu_command="bash benchmarks/gpu_reference.sh HTNet OUT (one GPU)",
)
