"""MEGC2019 composite, leave one dataset out: the 442 samples, three folds, 3 classes.

The composite's own samples and labels (`mer_bench_protocols.megc2019`: the explicit list, or its
emotion rules on generated sources), split by source dataset instead of by subject: each fold
trains on every subject of two datasets and tests on all of the third (SMIC-HS, CASME II, SAMM).
A cross-dataset question ("does what is learnt on these cameras, frame rates and populations
carry over?"), so the per-dataset scores are the result: each is one fold's held-out score.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules
from mer_bench_protocols.megc2019 import CLASSES, DATASETS, EMOTION_RULES

CARD = ProtocolCard(
    name="megc2019-lodo",
    description="MEGC2019 composite's 442 samples, leave one dataset out (3 folds), 3 classes.",
    reference="See et al., MEGC 2019 challenge, FG (composite list); leave-one-dataset-out split",
    year=2019,
    classes=CLASSES,
    datasets=DATASETS,
    sources=("flows", "raw", "demo"),
    split="hold-out-database",
    notes="Same list as megc2019; fold key = the held-out dataset. Per-dataset UF1/UAR are the "
    "three folds' scores; the pooled score mixes three different test sets.",
)

spec = ProtocolSpec(
    card=CARD,
    protocol=SampleRules(
        rules=EMOTION_RULES,
        sample_list="mer_bench_protocols:data/megc2019.csv",
        version="megc2019-cde-442",
    ),
)
