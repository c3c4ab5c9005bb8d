"""CASME (I), 4 classes (tense, disgust, repression, surprise), LOSO.

The 4-class set of the CASME (I) literature (e.g. Wang et al., LBP-SIP/TICS comparisons): the
emotions with enough samples; happiness, fear, sadness and contempt (few samples) are left out.
Which 4 classes a paper used varies (?): compare only with papers that state this set.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("tense", "disgust", "repression", "surprise")

spec = ProtocolSpec(
    card=ProtocolCard(
        name="casme",
        description="CASME (I), 4 classes (tense, disgust, repression, surprise), LOSO.",
        reference="Yan et al., CASME database, FG 2013",
        year=2013,
        classes=CLASSES,
        datasets=("casme",),
        sources=("raw",),
        notes="Rule over the annotation sheet; MEB's row-number fixes are not applied (sample "
        "ids not public, see mer_bench/data/datasets/casme.py).",
    ),
    protocol=SampleRules(rules={"casme": {c: c for c in CLASSES}}, version="casme-rules-1"),
)
