"""What a protocol declares about its samples: emotion rules per dataset, and an explicit list.

A protocol is data. `SampleRules` says which annotated emotions of which dataset go to which
class, and, for protocols defined by a published list (MEGC2019's 442 samples), which file in
which package holds that list. `mer_bench.data.resolve` applies them to a source: the list where the
source has the datasets' own sample ids, the rules where it generates its own (the demo).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

import pandas as pd

from mer_bench.core.errors import DataError


#: Columns of a protocol's sample table, in order. `label` indexes the protocol card's classes.
SAMPLE_COLUMNS = ("dataset", "subject", "sample", "label")


@dataclass(frozen=True)
class SampleRules:
    """The samples of a protocol.

    rules: dataset -> {annotated emotion (lower-case, as the loaders normalise it) -> class};
        emotions not listed are left out.
    sample_list: "package:relative/path.csv" of the shipped list (columns dataset, subject,
        sample, class), or None when the rules alone define the protocol.
    version: version of the list or rules, stored with each run.
    column: the loader-table column the rules read: `emotion` (the annotated emotion), or
        another column a loader fills, e.g. `objective_class` (MEGC2018's objective classes).
    """

    rules: Mapping[str, Mapping[str, str]]
    sample_list: str | None = None
    version: str = "1"
    notes: Mapping[str, str] = field(default_factory=dict)
    column: str = "emotion"

    def listed_samples(self, classes: tuple[str, ...]) -> pd.DataFrame | None:
        """The shipped list as a sample table (SAMPLE_COLUMNS + class), or None without one."""
        if self.sample_list is None:
            return None
        package, _, relative = self.sample_list.partition(":")
        path = resources.files(package).joinpath(relative)
        with resources.as_file(path) as real_path:
            try:
                table = pd.read_csv(real_path, comment="#", dtype=str)
            except (OSError, pd.errors.ParserError) as exc:
                raise DataError(f"{real_path}: unreadable sample list ({exc})") from exc
        missing = [c for c in ("dataset", "subject", "sample", "class") if c not in table.columns]
        if missing:
            raise DataError(f"{self.sample_list}: sample list lacks columns {missing}")
        unknown = sorted(set(table["class"]) - set(classes))
        if unknown:
            raise DataError(f"{self.sample_list}: unknown classes {unknown}")
        table["label"] = table["class"].map({c: i for i, c in enumerate(classes)}).astype("int64")
        return table[[*SAMPLE_COLUMNS, "class"]]

    def class_of(self, dataset: str, emotion: object) -> str | None:
        """The class an annotated emotion of `dataset` goes to (None: left out)."""
        return self.rules.get(dataset, {}).get(str(emotion).strip().lower())

    def rule_samples(
        self, tables: Mapping[str, pd.DataFrame], classes: tuple[str, ...]
    ) -> pd.DataFrame:
        """The rows of the dataset tables whose emotion the rules map to a class, labelled."""
        parts = []
        for dataset, table in tables.items():
            missing = [c for c in ("subject", "sample", self.column) if c not in table.columns]
            if missing:
                raise DataError(f"{dataset} table lacks columns {missing}")
            cls = (
                table[self.column]
                .astype(str)
                .str.strip()
                .str.lower()
                .map(dict(self.rules.get(dataset, {})))
            )
            kept = table[cls.notna()].assign(**{"class": cls[cls.notna()]})
            parts.append(
                kept.assign(
                    dataset=dataset, label=kept["class"].map({c: i for i, c in enumerate(classes)})
                )
            )
        samples = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if samples.empty:
            known = sorted({e for rules in self.rules.values() for e in rules})
            raise DataError(f"no sample of {', '.join(tables)} has an {self.column} among {known}")
        samples["label"] = samples["label"].astype("int64")
        return samples[[*SAMPLE_COLUMNS, "class"]].reset_index(drop=True)


@dataclass(frozen=True)
class AURules(SampleRules):
    """The samples of a multi-label AU task (`ProtocolCard.task == "au"`): every annotated
    expression of each dataset, its target the AUs of `aus` its AU string names.

    aus: the task's AUs, in the order of the card's classes (`AU<n>` names).
    keep_static: count AUs tagged static (`(k)`, 4DME) as present; MEB leaves them out.
    optional_datasets: datasets a source may lack (cross-dataset protocols run over the ones it
        has; at least two are needed to leave one out); the others must be present.
    """

    rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    aus: tuple[int, ...] = ()
    keep_static: bool = False
    optional_datasets: bool = False

    def __post_init__(self) -> None:
        if not self.aus or len(set(self.aus)) != len(self.aus):
            raise ValueError("AURules needs distinct AUs")
