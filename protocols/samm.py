"""SAMM, 5 classes (anger, contempt, happiness, surprise, other), LOSO.

The usual SAMM protocol: disgust, fear and sadness (few samples) are dropped, leaving 136 of the
159 micro-expressions.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("anger", "contempt", "happiness", "surprise", "other")

CARD = ProtocolCard(
    name="samm",
    description="SAMM, 5 classes (anger, contempt, happiness, surprise, other), 136 samples, LOSO.",
    reference="Davison et al., SAMM, IEEE TAC 2018",
    year=2018,
    classes=CLASSES,
    datasets=("samm",),
    sources=("raw", "demo"),
    notes="Rule over the FACS codes sheet: disgust, fear, sadness dropped; 'Others' read as other.",
)

spec = ProtocolSpec(
    card=CARD, protocol=SampleRules(rules={"samm": {c: c for c in CLASSES}}, version="samm-rules-1")
)
