"""`run --resume RUN_ID`: the stored run's own options, and the options given now checked against
them (a given option that differs is named, with its stored value).

The stored identity knows the model, protocol, source and its data options, selection, recipe and
seed (`mer_bench.run.engine.resume_config` rebuilds the configuration from it); options given on the
command line only say where and how to run (device, executor, workers, caches), or repeat what is
stored. The engine compares the full identity again before any training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mer_bench.core.errors import UsageError

if TYPE_CHECKING:
    from mer_bench.run.engine import RunConfig
    from mer_bench.results.store import RunRecord

#: run's parameter name -> (its flag, where the stored run keeps it: a run field, or
#: "recipe.<field>" / "data.<field>" of its identity).
IDENTITY_OPTIONS = {
    "model": ("--model", "model"),
    "protocol": ("--protocol", "protocol"),
    "source": ("--source", "source"),
    "selection": ("--selection", "selection"),
    "seed": ("--seed", "seed"),
    "epochs": ("--epochs", "recipe.epochs"),
    "lr": ("--lr", "recipe.lr"),
    "batch_size": ("--batch-size", "recipe.batch_size"),
    "flow": ("--flow", "data.flow_method"),
    "demo_difficulty": ("--demo-difficulty", "data.difficulty"),
    "demo_subjects": ("--demo-subjects", "data.subjects"),
    "data_root": ("--data-root", "data.data_root"),
    "faces": ("--faces", "data.faces"),
    "face_points": ("--face-points", "data.face_points"),
}
#: run's parameters that say where and how to run: given now, they apply to the resumed run.
RUN_OPTIONS = ("device", "executor", "workers")


def given_options(ctx: Any) -> set[str]:
    """Names of the command's parameters given on the command line (or environment), from its
    typer (click) context."""
    return {
        name
        for name in ctx.params
        if getattr(ctx.get_parameter_source(name), "name", "") in ("COMMANDLINE", "ENVIRONMENT")
    }


def stored_value(record: RunRecord, where: str) -> Any:
    kind, _, key = where.partition(".")
    if not key:
        return getattr(record, kind)
    if kind == "recipe":
        return record.recipe.get(key)
    # a source that identifies its data by content keeps where it was in the provenance
    data = record.identity.get("data", {})
    return data[key] if key in data else record.provenance.get("source_options", {}).get(key)


def _same(given: Any, stored: Any) -> bool:
    if isinstance(given, Path):
        return stored is not None and str(given.expanduser().resolve()) == str(stored)
    if isinstance(given, float) or isinstance(stored, float):
        return stored is not None and float(given) == float(stored)
    return given == stored


def check_given(record: RunRecord, values: dict[str, Any], given: set[str]) -> None:
    """UsageError naming the first option given now whose value differs from the stored run's."""
    for name, (flag, where) in IDENTITY_OPTIONS.items():
        if name not in given or values.get(name) is None:
            continue
        stored = stored_value(record, where)
        if not _same(values[name], stored):
            shown = "not set" if stored is None else f"{stored}"
            raise UsageError(
                f"{flag} {values[name]} differs from run {record.run_id}, made with "
                f"{flag} {shown}: --resume {record.run_id} alone resumes it as it "
                "was made (or start a new run without --resume)"
            )


def resumed_config(record: RunRecord, fresh: RunConfig, given: set[str]) -> RunConfig:
    """The configuration that resumes `record`: its stored one, with where and how to run taken
    from `fresh` (the command line's) where given, and the source's non-identity options (data
    and cache folders, workers) from the command line."""
    import dataclasses

    from mer_bench.run.engine import resume_config

    options = fresh.source_options
    source_values = (
        {}
        if options is None
        else {
            f.name: getattr(options, f.name)
            for f in dataclasses.fields(options)
            if not f.metadata.get("identity")
        }
    )
    run_values = {name: getattr(fresh, name) for name in RUN_OPTIONS if name in given}
    if "ray_address" in given or "executor_options" in given:
        run_values["executor_options"] = dict(fresh.executor_options)
    return resume_config(record, source_values, **run_values)
