"""MEGC2019 composite database evaluation (CDE): SMIC-HS + CASME II + SAMM, 3 classes, LOSO.

The protocol is the explicit 442-sample list of the challenge (68 subjects), not a rule over the
annotations: label versions differ, and rules alone do not reproduce the official list. For
generated (synthetic) sources the same emotion-to-class rules build the list instead.
"""

from __future__ import annotations

import warnings

import pandas as pd

from mer_bench.cards import ProtocolCard, ProtocolSpec
from mer_bench.data import Protocol, Source
from mer_bench.datasets.corrections import CORRECTIONS_VERSION
from mer_bench.datasets.matching import match_listed, require_all
from mer_bench_protocols.manifest import read_manifest

CLASSES = ("negative", "positive", "surprise")
DATASETS = ("smic", "casme2", "samm")

#: The composite's emotion -> class rules per dataset (emotions lower-cased; others dropped).
EMOTION_RULES: dict[str, dict[str, str]] = {
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    "casme2": {"disgust": "negative", "repression": "negative", "happiness": "positive",
               "surprise": "surprise"},
    "samm": {"anger": "negative", "contempt": "negative", "disgust": "negative",
             "fear": "negative", "sadness": "negative", "happiness": "positive",
             "surprise": "surprise"},
}

CARD = ProtocolCard(
    name="megc2019",
    description="MEGC2019 composite: SMIC-HS + CASME II + SAMM, 442 samples, 68 subjects, 3 classes, LOSO.",
    reference="See et al., MEGC 2019 challenge, FG",
    year=2019,
    input_kind="flow28",
    classes=CLASSES,
    datasets=DATASETS,
    sources=("flows", "raw", "demo"),
    notes="Explicit 442-sample list (protocols/data/megc2019.csv); UF1/UAR pooled over all folds.",
)


def apply_emotion_rules(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Sample rows of one loader table mapped to composite classes (unmapped emotions dropped)."""
    rules = EMOTION_RULES[dataset]
    cls = table["emotion"].str.strip().str.lower().map(rules)
    kept = table[cls.notna()].assign(**{"class": cls[cls.notna()]})
    kept["label"] = kept["class"].map({c: i for i, c in enumerate(CLASSES)}).astype("int64")
    return kept[["dataset", "subject", "sample", "label", "class"]]


class Megc2019(Protocol):
    """The composite sample list; rules over the dataset tables for synthetic sources.

    With real dataset tables (source `raw`) every listed sample must be found; where its
    annotation gives another class, the list wins and the disagreement is reported (a warning,
    and `samples.attrs["provenance"]["label_disagreements"]`).
    """

    def samples(self, source: Source) -> pd.DataFrame:
        if source.synthetic:
            parts = [apply_emotion_rules(source.dataset_table(d), d) for d in DATASETS]
            return pd.concat(parts, ignore_index=True)
        listed = read_manifest("megc2019.csv", CLASSES)
        if not getattr(source, "has_tables", True):
            return listed
        tables = {d: source.dataset_table(d) for d in DATASETS}
        match = match_listed(listed, tables, lambda d, e: EMOTION_RULES[d].get(str(e).strip().lower()))
        require_all(match, "megc2019")
        if match.disagreements:
            warnings.warn(f"megc2019: {len(match.disagreements)} listed labels differ from the "
                          f"annotations (the list is kept): {match.disagreements[0]}", stacklevel=2)
        samples = match.found
        samples.attrs["provenance"] = {"label_disagreements": match.disagreements,
                                       "corrections_version": CORRECTIONS_VERSION}
        return samples

    def manifest_version(self) -> str:
        return "megc2019-cde-442"


spec = ProtocolSpec(card=CARD, protocol=Megc2019())
