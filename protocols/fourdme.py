"""4DME micro clips (2-D grayscale frames), 5 emotion classes, LOSO.

4DME annotates five emotion classes (4DME abstract): positive, negative, surprise, repression,
others (spelling as the sheet is assumed to write them (?)); every annotated micro clip with one
of them is a sample.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("positive", "negative", "surprise", "repression", "others")

spec = ProtocolSpec(
    card=ProtocolCard(
        name="4dme",
        description="4DME micro clips, 5 classes (positive, negative, surprise, "
        "repression, others), LOSO.",
        reference="Li et al., 4DME, TAFFC 2022",
        year=2022,
        classes=CLASSES,
        datasets=("4dme",),
        sources=("raw",),
        notes="Rule over the labelling sheet's Emotion column; grayscale frames only.",
    ),
    protocol=SampleRules(rules={"4dme": {c: c for c in CLASSES}}, version="4dme-rules-1"),
)
