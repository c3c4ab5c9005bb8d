"""SMIC-HS, 3 classes (negative, positive, surprise), LOSO over 16 subjects, 164 clips."""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("negative", "positive", "surprise")

CARD = ProtocolCard(
    name="smic",
    description="SMIC-HS, 3 classes (negative, positive, surprise), 164 clips, LOSO.",
    reference="Li et al., SMIC, FG 2013",
    year=2013,
    classes=CLASSES,
    datasets=("smic",),
    sources=("raw", "demo"),
    notes="Labels from the emotion folders; apex is the middle frame (SMIC-HS ships none).",
)

spec = ProtocolSpec(
    card=CARD, protocol=SampleRules(rules={"smic": {c: c for c in CLASSES}}, version="smic-rules-1")
)
