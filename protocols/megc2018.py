"""MEGC2018 hold-out-database evaluation (HDE): CASME II and SAMM, objective classes I-V.

Train on CASME II and test on SAMM, and the reverse: two folds (split `hold-out-database`, the
fold key is the held-out dataset). The labels are not emotions but the objective classes of
Davison et al. (2018), groups of action units defined the same way for both datasets, which is
what makes training on one and testing on the other meaningful. Classes VI and VII are left out,
as the challenge left them out.

Where the class assignment comes from: the dataset owners' own objective-class columns, read by
the loaders into column `objective_class`: CASME II's `CASME2-ObjectiveClasses.xlsx` (column
`Objective Class`, beside the coding sheet) and SAMM's codes sheet (column `Objective Classes`).
Both spellings of a class, Roman (`III`) and Arabic (`3`), are read. mer-bench ships no class
list of its own for this protocol; a CASME II copy without the objective-class workbook has no
samples for it (the run stops with a one-line error naming the column).
"""

from __future__ import annotations

from mer_bench.core.cards import ProtocolCard, ProtocolSpec
from mer_bench.core.protocol import SampleRules

CLASSES = ("I", "II", "III", "IV", "V")
_ROMAN = ("i", "ii", "iii", "iv", "v")

#: Objective class as a sheet spells it (lower-cased, as the rules compare) -> class.
OBJECTIVE_RULES = {
    **{roman: c for roman, c in zip(_ROMAN, CLASSES)},
    **{str(n): c for n, c in enumerate(CLASSES, start=1)},
}

CARD = ProtocolCard(
    name="megc2018-hde",
    description="MEGC2018 hold-out-database: train CASME II test SAMM and the reverse, "
    "objective classes I-V.",
    reference="Yap et al., Facial Micro-Expressions Grand Challenge 2018 summary, FG 2018; "
    "classes: Davison et al., Objective classes for micro-facial expression "
    "recognition, J. Imaging 2018",
    year=2018,
    classes=CLASSES,
    datasets=("casme2", "samm"),
    sources=("raw",),  # the demo writes no CASME II objective-class workbook
    split="hold-out-database",
    notes="Classes from the owners' objective-class columns (CASME2-ObjectiveClasses.xlsx "
    "'Objective Class'; SAMM codes sheet 'Objective Classes'); VI and VII left out. "
    "Two folds, keyed by the held-out dataset.",
)

spec = ProtocolSpec(
    card=CARD,
    protocol=SampleRules(
        rules={"casme2": OBJECTIVE_RULES, "samm": OBJECTIVE_RULES},
        column="objective_class",
        version="megc2018-hde-objective-1",
    ),
)
