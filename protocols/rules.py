"""Protocols defined by a rule over one dataset's annotations: emotion -> class, LOSO.

The per-dataset protocols (casme2, samm, smic, casme3-*) are data: a dataset name, the class
names, and which annotated emotions (lower-case, as the loaders normalise them) go to which class.
The same rule serves real tables (source `raw`) and generated ones (source `demo`).
"""

from __future__ import annotations

import pandas as pd

from mer_bench.data import SAMPLE_COLUMNS, Protocol, Source
from mer_bench.datasets.corrections import CORRECTIONS_VERSION
from mer_bench.errors import DataError


class EmotionRuleProtocol(Protocol):
    """The samples of `dataset` whose emotion `rules` maps to one of `classes`; others dropped."""

    def __init__(self, name: str, dataset: str, classes: tuple[str, ...],
                 rules: dict[str, str]) -> None:
        unknown = sorted(set(rules.values()) - set(classes))
        if unknown:
            raise ValueError(f"protocol {name}: rules map to unknown classes {unknown}")
        self.name, self.dataset, self.classes, self.rules = name, dataset, classes, dict(rules)

    def samples(self, source: Source) -> pd.DataFrame:
        table = source.dataset_table(self.dataset)
        missing = [c for c in ("subject", "sample", "emotion") if c not in table.columns]
        if missing:
            raise DataError(f"{self.dataset} table from source '{source.name}' lacks {missing}")
        cls = table["emotion"].astype(str).str.strip().str.lower().map(self.rules)
        kept = table[cls.notna()].assign(**{"class": cls[cls.notna()]})
        if kept.empty:
            raise DataError(f"protocol {self.name}: no {self.dataset} sample has an emotion among "
                            f"{sorted(self.rules)}")
        kept = kept.assign(dataset=self.dataset,
                           label=kept["class"].map({c: i for i, c in enumerate(self.classes)}))
        kept["label"] = kept["label"].astype("int64")
        return kept[list(SAMPLE_COLUMNS) + ["class"]].reset_index(drop=True)

    def manifest_version(self) -> str:
        return f"{self.name}-rules-1/corrections-{CORRECTIONS_VERSION}"
