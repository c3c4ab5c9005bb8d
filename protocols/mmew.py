"""MMEW micro-expressions, 4 classes (happiness, surprise, disgust, others), LOSO.

The 4-class set of third-party MMEW configurations (?): happiness, surprise, disgust, and
`others` (the sheet's label for the clips in the `repression` folder); fear, sadness and anger
(few samples) are left out.
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("happiness", "surprise", "disgust", "others")

spec = ProtocolSpec(
    card=ProtocolCard(
        name="mmew",
        description="MMEW micro-expressions, 4 classes (happiness, surprise, "
        "disgust, others), LOSO.",
        reference="Ben et al., MMEW, TPAMI 2021",
        year=2021,
        classes=CLASSES,
        datasets=("mmew",),
        sources=("raw",),
        notes="Rule over MMEW_Micro_Exp.xlsx; the class set is a third-party choice (?); "
        "'others' = the clips of the repression folder.",
    ),
    protocol=SampleRules(
        rules={
            "mmew": {
                "happiness": "happiness",
                "surprise": "surprise",
                "disgust": "disgust",
                "others": "others",
                "repression": "others",
            }
        },
        version="mmew-rules-1",
    ),
)
