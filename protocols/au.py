"""Action-unit (AU) detection protocols: multi-label, one sigmoid per AU (MEB's AU task).

Every annotated micro-expression of a dataset is a sample (no emotion filter); its target is the
set of the task's AUs its AU string names (`mer_bench.data.au`: one grammar for every dataset's
spelling; static `(k)` AUs left out, as MEB does). Scores: per-AU F1 on the predictions pooled
over folds (logit > 0 = present) and their mean, AU-F1, plus the mean ROC AUC.

AU lists are MEB's (`meb/utils/utils.py`, `dataset_aus`) where it has one:
- CASME II: 1, 2, 4, 7, 12, 14, 15, 17; SAMM: 2, 4, 7, 12; cross-dataset: 1, 2, 4, 5, 6, 7, 9,
  10, 12, 14, 15, 17.
- CAS(ME)^3: MEB has no single-dataset list for it; we use the cross-dataset list (our choice).

`cd6me-au` is MEB's CD6ME: leave one dataset out over CASME, CASME II, SAMM, 4DME, MMEW and
CAS(ME)^3 part A (189 + 256 + 159 + 267 + 300 + 860 = 2,031 samples in MEB). It runs over the
datasets the source has (at least two); what differs from MEB where public facts cannot match:
- MEB's row-number fixes of CASME, MMEW and 4DME are not applied (their sample ids are not
  public), and the loaders of those three rest on assumptions written in their modules, so
  sample counts may differ from MEB's 189 / 300 / 267: compare counts before numbers;
- MEB's AU columns come from its own hand edits of five SAMM rows (`or` / `/` strings); here
  such strings are refused (exit 3) until the corrections table says which AU was seen;
- MEB averages 5 seeds (45-49) at fixed epochs: run `--seeds 45-49` for the same shape.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import AURules
from mer_bench.data.au import au_name

CASME2_AUS = (1, 2, 4, 7, 12, 14, 15, 17)
SAMM_AUS = (2, 4, 7, 12)
CROSS_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17)
#: CD6ME's datasets, in MEB's order.
CD6ME_DATASETS = ("casme", "casme2", "samm", "4dme", "mmew", "casme3")

MEB = "Varanka et al., MEB: micro-expression benchmark, TAFFC 2024 (tvaranka/meb)"


def _names(aus: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(au_name(a) for a in aus)


def _single(
    name: str, dataset: str, title: str, aus: tuple[int, ...], sources: tuple[str, ...], note: str
) -> ProtocolSpec:
    card = ProtocolCard(
        name=name,
        description=f"{title}, AU detection ({len(aus)} AUs, multi-label), LOSO.",
        reference=MEB,
        year=2024,
        classes=_names(aus),
        datasets=(dataset,),
        sources=sources,
        task="au",
        notes=note,
    )
    return ProtocolSpec(card=card, protocol=AURules(aus=aus, version=f"{name}-1"))


casme2_au = _single(
    "casme2-au",
    "casme2",
    "CASME II",
    CASME2_AUS,
    ("raw", "demo"),
    "MEB's CASME II AUs; every annotated sample, corrections table applied.",
)
samm_au = _single(
    "samm-au",
    "samm",
    "SAMM",
    SAMM_AUS,
    ("raw", "demo"),
    "MEB's SAMM AUs; every annotated sample. Rows with 'or' / '/' AU strings "
    "stop the run (exit 3) until the corrections table resolves them.",
)
casme3_au = _single(
    "casme3-au",
    "casme3",
    "CAS(ME)^3 part A",
    CROSS_AUS,
    ("raw",),
    "MEB has no CAS(ME)^3 AU list: the cross-dataset 12 AUs (our choice).",
)

cd6me_au = ProtocolSpec(
    card=ProtocolCard(
        name="cd6me-au",
        description="CD6ME-style AU detection (12 AUs), leave one dataset out over the loaded "
        "datasets.",
        reference=MEB,
        year=2024,
        classes=_names(CROSS_AUS),
        datasets=CD6ME_DATASETS,
        sources=("raw", "demo"),
        split="hold-out-database",
        task="au",
        notes="MEB's cross-dataset AU list and rule (all annotated MEs); runs over the datasets "
        "the source has (the demo: CASME II and SAMM only); MEB's row-number fixes of "
        "CASME, MMEW and 4DME are not applied, so counts may differ from its 2,031.",
    ),
    protocol=AURules(aus=CROSS_AUS, version="cd6me-au-1", optional_datasets=True),
)
