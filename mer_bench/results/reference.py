"""Reference results: runs the project computed on public data, shipped as export files.

A *reference set* (entry-point group `mer_bench.reference_sets`) names a protocol and source, the
folder of a package that holds one export file per computed run (the JSON `mer-bench import`
reads, with its per-sample predictions), and the plan those runs follow. The files are imported,
with the importer's own checks, into a database of their own in the cache: a user's results
database is never written by this. The board and `mer-bench table` show these runs beside the
user's, marked "reference", and say "not computed yet" with the command for every planned run
that has no file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pandas as pd

from mer_bench.core.errors import DataError, MerBenchError
from mer_bench.core.paths import default_cache_dir
from mer_bench.results.ranking import REFERENCE, RUN_COLUMNS

log = logging.getLogger(__name__)

#: Bumped when the reference database's layout or the import changes (old copies are rebuilt).
DATABASE_VERSION = 1


@dataclass(frozen=True)
class PlannedRun:
    """One run of a reference plan: `mer-bench run` options beyond the data's.

    `paired` names the rules concluded from the same models (`--paired`); `gpu` marks a recipe
    that only a GPU computes in reasonable time.
    """

    model: str
    selection: str
    seed: int
    paired: tuple[str, ...] = ()
    gpu: bool = False

    def argv(self) -> list[str]:
        out = ["--model", self.model, "--selection", self.selection, "--seed", str(self.seed)]
        for name in self.paired:
            out += ["--paired", name]
        return out

    def stored_runs(self) -> list[tuple[str, str, int]]:
        """(model, selection, seed) of every run this one stores: itself and its paired runs."""
        return [
            (self.model, self.selection, self.seed),
            *[(self.model, name, self.seed) for name in self.paired],
        ]


@dataclass(frozen=True)
class ReferenceSet:
    """Shipped runs of one protocol on one public source, and the plan they follow."""

    name: str
    protocol: str
    source: str
    package: str  # the importable package that holds the files
    folder: str  # the files' folder inside it
    planned: tuple[PlannedRun, ...]
    data_hint: str  # what `--data-root` must be, in the commands shown for missing runs
    gpu_command: str  # the ready command that computes the GPU-only rows

    def files(self) -> list[Traversable]:
        """The export files, sorted by name (none when the folder is absent). Without a package,
        `folder` is a path on disk."""
        try:
            folder = (
                resources.files(self.package).joinpath(self.folder)
                if self.package
                else Path(self.folder)
            )
        except ModuleNotFoundError:
            return []
        if not folder.is_dir():
            return []
        return sorted(
            (f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name
        )

    def command(self, run: PlannedRun) -> str:
        """The command that computes `run` (the ready GPU script for GPU-sized recipes)."""
        if run.gpu:
            return self.gpu_command
        return shlex.join(
            [
                "mer-bench",
                "run",
                *run.argv(),
                "--protocol",
                self.protocol,
                "--source",
                self.source,
                "--data-root",
                self.data_hint,
            ]
        )


#: Set to 0 to hide the shipped reference runs everywhere (a board of a team's own runs only).
SWITCH = "MER_BENCH_REFERENCE"


def reference_sets(protocol: str | None = None, source: str | None = None) -> list[ReferenceSet]:
    """Registered reference sets (of `protocol` and `source`, when given), by name; none when
    $MER_BENCH_REFERENCE is 0."""
    from mer_bench.core.registry import REFERENCE_SETS

    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "no", "off", "false"):
        return []

    return [
        s
        for _, s in sorted(REFERENCE_SETS.items())
        if (protocol is None or s.protocol == protocol) and (source is None or s.source == source)
    ]


def _digest(sets: list[ReferenceSet]) -> str:
    """Changes whenever a file, a set or the importer's database version changes."""
    from mer_bench import __version__

    h = hashlib.sha256(f"{DATABASE_VERSION}:{__version__}".encode())
    for s in sets:
        h.update(s.name.encode())
        for f in s.files():
            h.update(f.name.encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def reference_database(
    sets: list[ReferenceSet] | None = None, cache_dir: Path | None = None
) -> Path | None:
    """A SQLite database holding every file of `sets` (default: all), imported with the
    importer's checks; built once per content in the cache, None when there is no file.

    The database is written under a temporary name and renamed into place, so two processes
    building it at once each see a complete one.
    """
    from mer_bench.results.store import Store
    from mer_bench.results.submission import import_submission

    sets = reference_sets() if sets is None else sets
    files = [(s, f) for s in sets for f in s.files()]
    if not files:
        return None
    folder = Path(cache_dir or default_cache_dir()) / "reference"
    target = folder / f"{_digest(sets)}.sqlite"
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MerBenchError(
            f"cannot write the reference results' database in {folder}: {exc.strerror or exc}"
        ) from exc
    handle, temp = tempfile.mkstemp(prefix=".building-", suffix=".sqlite", dir=folder)
    os.close(handle)
    os.unlink(temp)
    try:
        with Store(temp) as store:
            for reference, file in files:
                with resources.as_file(file) as path:
                    try:
                        import_submission(path, store)
                    except MerBenchError as exc:  # a damaged file: data, exit 3
                        raise DataError(f"reference set {reference.name}: {exc}") from exc
        os.replace(temp, target)
    finally:
        for leftover in (temp, f"{temp}-wal", f"{temp}-shm"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    log.info(
        "reference results: %d files of %s in %s",
        len(files),
        ", ".join(s.name for s in sets),
        target,
    )
    return target


def load_reference(
    protocol: str, source: str | None = None, cache_dir: Path | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The reference runs of `protocol` (on `source`, when given) as `ranking.load` gives a
    store's, each marked with origin "reference"."""
    from mer_bench.results import ranking
    from mer_bench.results.store import Store

    sets = reference_sets(protocol, source)
    path = reference_database(sets, cache_dir) if sets else None
    if path is None:
        return pd.DataFrame(columns=RUN_COLUMNS), {}
    with Store(path, read_only=True) as store:
        runs, predictions = ranking.load(store, protocol)
    if source is not None:
        runs = runs[runs["source"] == source].reset_index(drop=True)
    runs["origin"] = REFERENCE
    return runs, {r: predictions[r] for r in runs["run_id"]}


def not_computed(protocol: str, source: str, runs: pd.DataFrame) -> pd.DataFrame:
    """The planned runs of every reference set of (protocol, source) that have no file among
    `runs` (reference runs), one row per (model, selection) with the missing seeds and the
    command that computes them."""
    rows: dict[tuple[str, str], dict] = {}
    have = set()
    if len(runs):
        have = {
            (m, s, int(seed)) for m, s, seed in zip(runs["model"], runs["selection"], runs["seed"])
        }
    for reference in reference_sets(protocol, source):
        for run in reference.planned:
            for model, selection, seed in run.stored_runs():
                if (model, selection, seed) in have:
                    continue
                row = rows.setdefault(
                    (model, selection),
                    {
                        "model": model,
                        "selection": selection,
                        "seeds": [],
                        "command": reference.command(run),
                        "set": reference.name,
                    },
                )
                row["seeds"].append(seed)
    out = []
    for r in rows.values():
        seeds = sorted(set(r["seeds"]))
        command = r["command"]
        if len(seeds) > 1 and "--seed" in command:
            command += f" (then --seed {', '.join(str(s) for s in seeds[1:])})"
        out.append({**r, "seeds": ",".join(str(s) for s in seeds), "command": command})
    return pd.DataFrame(out, columns=["model", "selection", "seeds", "command", "set"])


def with_reference(
    runs: pd.DataFrame,
    predictions: dict[str, pd.DataFrame],
    shipped: pd.DataFrame,
    shipped_predictions: dict[str, pd.DataFrame],
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A database's runs and the shipped reference runs together. A reference run that the
    database also holds (imported by its user) is shown once, as the user's own copy."""
    shipped = shipped[~shipped["run_id"].isin(set(runs["run_id"]))]
    if not len(shipped):
        return runs, predictions
    merged = pd.concat([runs, shipped], ignore_index=True) if len(runs) else shipped
    return (
        merged.reset_index(drop=True),
        {**predictions, **{r: shipped_predictions[r] for r in shipped["run_id"]}},
    )


def summary(protocol: str, source: str, cache_dir: Path | None = None) -> pd.DataFrame:
    """Per model of the reference plan, the shipped numbers as text: UF1 and UAR under `fixed`
    (mean ± sd over seeds), UF1 under each honest choosing rule and under best-on-test, the
    leak (best-on-test minus fixed on the same seeds' models) and the model card's published
    number with how it was chosen. A planned cell without a file says "not computed yet"."""
    from mer_bench.core.registry import MODELS
    from mer_bench.results import ranking

    runs, predictions = load_reference(protocol, source, cache_dir)
    table = ranking.ranking(runs, predictions) if len(runs) else pd.DataFrame()
    planned = [run for s in reference_sets(protocol, source) for run in s.planned]
    models = list(dict.fromkeys(run.model for run in planned))
    rules = list(
        dict.fromkeys(
            sel
            for run in planned
            for _, sel, _ in run.stored_runs()
            if sel not in ("fixed", ranking.BEST_ON_TEST)
        )
    )
    planned_cells = {(m, sel) for run in planned for m, sel, _ in run.stored_runs()}

    def row_of(model: str, selection: str) -> pd.Series | None:
        if not len(table):
            return None
        found = table[(table["model"] == model) & (table["selection"] == selection)]
        return found.iloc[0] if len(found) else None

    def cell(model: str, selection: str, name: str) -> str:
        row = row_of(model, selection)
        if row is None:
            return ranking.NOT_COMPUTED if (model, selection) in planned_cells else "-"
        seeds = f" ({row['n_seeds']} seeds)" if row["n_seeds"] > 1 else " (seed 0)"
        return (
            ranking.with_spread(row[f"{name}_mean"], row[f"{name}_sd"], row["n_seeds"], 3) + seeds
        )

    out = []
    for model in models:
        fixed, test = row_of(model, "fixed"), row_of(model, ranking.BEST_ON_TEST)
        leak = "-"
        if fixed is not None and test is not None:
            shared = sorted(set(fixed["seeds"].split(",")) & set(test["seeds"].split(",")))
            by_id = dict(zip(runs["run_id"], runs["seed"].astype(str)))
            gaps = []
            for seed in shared:
                f_id = next(r for r in fixed["run_ids"].split() if by_id[r] == seed)
                t_id = next(r for r in test["run_ids"].split() if by_id[r] == seed)
                n = int(runs.loc[runs["run_id"] == f_id, "n_classes"].iloc[0])
                gaps.append(
                    ranking.run_scores(predictions[t_id], n)["uf1"]
                    - ranking.run_scores(predictions[f_id], n)["uf1"]
                )
            leak = f"{sum(gaps) / len(gaps):+.3f}" if gaps else "-"
        elif (model, ranking.BEST_ON_TEST) in planned_cells:
            leak = ranking.NOT_COMPUTED
        published = "-"
        if model in MODELS:
            card = MODELS.get(model).card
            numbers = card.published
            if numbers.get("composite_uf1"):
                published = (
                    f"{numbers['composite_uf1']} / {numbers.get('composite_uar', '-')} "
                    f"({numbers.get('selection', 'as published')})"
                )
        entry = {
            "model": model,
            "fixed UF1": cell(model, "fixed", "uf1"),
            "fixed UAR": cell(model, "fixed", "uar"),
        }
        entry.update({f"{rule} UF1": cell(model, rule, "uf1") for rule in rules})
        entry["best-on-test UF1"] = cell(model, ranking.BEST_ON_TEST, "uf1")
        entry["leak (UF1)"] = leak
        entry["published UF1 / UAR"] = published
        out.append(entry)
    return pd.DataFrame(out)
