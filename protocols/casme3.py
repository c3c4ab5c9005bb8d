"""CAS(ME)^3 Part A: 7-, 4- and 3-class protocols, LOSO, each registered under its own name.

Classes as the CAS(ME)^3 paper groups them: 7 (the annotated emotions), 4 (negative = disgust,
fear, anger, sad; positive = happy; surprise; others), 3 (the 4 without others). The label
sheet's bad rows and the owners' error list are excluded (corrections table), so counts are a
little below the raw sheet's (3 classes: 689 of 699).
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES_7 = ("others", "happy", "surprise", "sad", "disgust", "fear", "anger")
CLASSES_4 = ("negative", "positive", "surprise", "others")
CLASSES_3 = ("negative", "positive", "surprise")
_NEGATIVE = ("disgust", "fear", "anger", "sad")
RULES_4 = {
    **{e: "negative" for e in _NEGATIVE},
    "happy": "positive",
    "surprise": "surprise",
    "others": "others",
}
RULES_3 = {e: c for e, c in RULES_4.items() if c != "others"}


def _spec(name: str, classes: tuple[str, ...], rules: dict[str, str], what: str) -> ProtocolSpec:
    card = ProtocolCard(
        name=name,
        description=f"CAS(ME)^3 Part A, {what}, LOSO.",
        reference="Li et al., CAS(ME)^3, IEEE TPAMI 2022",
        year=2022,
        classes=classes,
        datasets=("casme3",),
        sources=("raw",),  # the demo generator writes no CAS(ME)^3 tree
        notes="v2 label sheet; bad rows and the owners' error list excluded (corrections table).",
    )
    return ProtocolSpec(
        card=card, protocol=SampleRules(rules={"casme3": rules}, version=f"{name}-rules-1")
    )


spec_7c = _spec("casme3-7c", CLASSES_7, {c: c for c in CLASSES_7}, "7 emotions")
spec_4c = _spec("casme3-4c", CLASSES_4, RULES_4, "4 classes (negative, positive, surprise, others)")
spec_3c = _spec("casme3-3c", CLASSES_3, RULES_3, "3 classes (negative, positive, surprise)")
