"""CASME II, 5 classes (happiness, disgust, repression, surprise, others), LOSO over 26 subjects.

The classic single-database protocol: fear and sadness (too few samples) are dropped; about
246-249 samples depending on the label version.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("happiness", "disgust", "repression", "surprise", "others")

CARD = ProtocolCard(
    name="casme2",
    description="CASME II, 5 classes (happiness, disgust, repression, surprise, others), LOSO.",
    reference="Yan et al., CASME II, PLoS ONE 2014",
    year=2014,
    classes=CLASSES,
    datasets=("casme2",),
    sources=("raw", "demo"),
    notes="Rule over the coding sheet: fear and sadness dropped; corrections table applied.",
)

spec = ProtocolSpec(
    card=CARD,
    protocol=SampleRules(rules={"casme2": {c: c for c in CLASSES}}, version="casme2-rules-1"),
)
