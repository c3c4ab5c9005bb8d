"""MEGC2019 composite database evaluation (CDE): SMIC-HS + CASME II + SAMM, 3 classes, LOSO.

The protocol is the explicit 442-sample list of the challenge (68 subjects), not a rule over the
annotations: label versions differ, and rules alone do not reproduce the official list. With real
dataset tables every listed sample must be found and a listed class that differs from the
annotation's is reported (the list wins). For generated (synthetic) sources the same
emotion-to-class rules build the list instead (see `mer_bench.data.resolve`).
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("negative", "positive", "surprise")
DATASETS = ("smic", "casme2", "samm")

#: The composite's emotion -> class rules per dataset (emotions lower-cased; others dropped).
EMOTION_RULES: dict[str, dict[str, str]] = {
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    "casme2": {
        "disgust": "negative",
        "repression": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
    "samm": {
        "anger": "negative",
        "contempt": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sadness": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
}

CARD = ProtocolCard(
    name="megc2019",
    description="MEGC2019 composite: SMIC-HS + CASME II + SAMM, 442 samples, 68 subjects, 3 classes, LOSO.",
    reference="See et al., MEGC 2019 challenge, FG",
    year=2019,
    classes=CLASSES,
    datasets=DATASETS,
    sources=("flows", "raw", "demo"),
    notes="Explicit 442-sample list (protocols/data/megc2019.csv); UF1/UAR pooled over all folds.",
)


spec = ProtocolSpec(
    card=CARD,
    protocol=SampleRules(
        rules=EMOTION_RULES,
        sample_list="mer_bench_protocols:data/megc2019.csv",
        version="megc2019-cde-442",
    ),
)
