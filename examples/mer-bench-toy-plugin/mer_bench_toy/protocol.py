"""`toyfaces-3c`: three classes on the toyfaces dataset, leave-one-person-out.

A protocol is data: which datasets, which classes, and a rule from each dataset's annotated
emotion (here `feeling`) to a class; feelings not listed (neutral) are left out.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("negative", "positive", "surprise")

CARD = ProtocolCard(
    name="toyfaces-3c",
    description="toyfaces, 3 classes (sad, glad, startled), leave one person out.",
    reference="mer-bench toy plugin (no paper)",
    year=2026,
    classes=CLASSES,
    datasets=("toyfaces",),
    sources=("raw",),
    notes="Neutral clips are left out.",
)

spec = ProtocolSpec(
    card=CARD,
    protocol=SampleRules(
        rules={"toyfaces": {"sad": "negative", "glad": "positive", "startled": "surprise"}},
        version="toyfaces-3c-1",
    ),
)
