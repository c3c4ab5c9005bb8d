"""Loaders on tiny trees in the owners' layouts, with each known quirk and each malformed case."""

from __future__ import annotations

import pytest
from _dataset_trees import casme2_tree, casme3_tree, samm_tree, smic_tree

from mer_bench.data.contract import DATASET_COLUMNS
from mer_bench.data.datasets import CORRECTIONS_VERSION, inspect_dataset, load_dataset
from mer_bench.data.datasets.corrections import load_corrections
from mer_bench.core.errors import DataError

CASME2_ROWS = [
    dict(subject=1, sample="EP02_01f", onset=46, apex=49, offset=52, emotion="happiness"),
    dict(subject=3, sample="EP01_2", onset=5, apex="/", offset=9, emotion="surprise", au="1+2"),
    dict(subject=7, sample="EP06_02_01", onset=11, apex=12, offset=14, emotion="disgust"),
    dict(subject=9, sample="EP09f", onset=26, apex=27, offset=28, emotion="repression"),
    dict(subject=16, sample="EP01_08", onset=73, apex=74, offset=76, emotion="repression"),
    dict(subject=24, sample="EP01_08", onset=33, apex=34, offset=35, emotion="fear"),
]


@pytest.mark.parametrize("layout", ["CASME2_RAW_selected", "CASME2-RAW", "Cropped"])
def test_casme2_layouts_blank_columns_and_slash_apex(tmp_path, layout):
    casme2_tree(tmp_path, CASME2_ROWS, layout=layout)
    table = load_dataset("casme2", tmp_path)
    assert list(table.columns[:9]) == list(DATASET_COLUMNS)
    assert len(table) == 6 and table["subject"].tolist() == [
        "sub01",
        "sub03",
        "sub07",
        "sub09",
        "sub16",
        "sub24",
    ]
    row = table.set_index("sample").loc["EP01_2"]
    assert (row["onset"], row["apex"], row["offset"]) == (5, 7, 9)  # '/' -> middle frame
    assert row["action_units"] == "1+2"
    first = table.iloc[0]
    assert [p.name for p in first["frames"]][:2] == (
        [f"{'reg_img' if layout == 'Cropped' else 'img'}{n}.jpg" for n in (46, 47)]
    )
    assert len(first["frames"]) == 7
    assert sorted(table["emotion"]) == [
        "disgust",
        "fear",
        "happiness",
        "repression",
        "repression",
        "surprise",
    ]


def test_casme2_xls_sheet(tmp_path):
    casme2_tree(tmp_path, CASME2_ROWS[:2], xls=True)
    assert load_dataset("casme2", tmp_path)["sample"].tolist() == ["EP02_01f", "EP01_2"]


def test_casme2_missing_apex_frame_names_file_and_row(tmp_path):
    casme2_tree(tmp_path, CASME2_ROWS)
    (tmp_path / "CASME2_RAW_selected/sub07/EP06_02_01/img12.jpg").unlink()
    with pytest.raises(
        DataError, match=r"sub07/EP06_02_01, row 4: EP06_02_01: missing apex frame 12$"
    ):
        load_dataset("casme2", tmp_path)
    result = inspect_dataset("casme2", tmp_path)
    assert len(result.table) == 5 and len(result.fatal) == 1
    assert len(load_dataset("casme2", tmp_path, strict=False)) == 5


def test_casme2_gap_is_a_warning_and_missing_clip_an_error(tmp_path):
    casme2_tree(tmp_path, CASME2_ROWS)
    (tmp_path / "CASME2_RAW_selected/sub01/EP02_01f/img50.jpg").unlink()
    result = inspect_dataset("casme2", tmp_path)
    assert [p.fatal for p in result.problems] == [False]
    assert "1 missing frames in [onset, offset], first 50" in result.problems[0].line()
    assert len(result.table.iloc[0]["frames"]) == 6
    import shutil

    shutil.rmtree(tmp_path / "CASME2_RAW_selected/sub09/EP09f")
    with pytest.raises(DataError, match=r"sub09/EP09f, row 5: EP09f: clip folder missing"):
        load_dataset("casme2", tmp_path)


def test_casme2_bad_cells(tmp_path):
    rows = CASME2_ROWS[:1] + [
        dict(subject=2, sample="EP03_01", onset=10, apex=40, offset=20, emotion="others")
    ]
    casme2_tree(tmp_path, rows, ends_only=True)
    with pytest.raises(
        DataError,
        match=r"CASME2-coding-20140508.xlsx, row 3: EP03_01: apex 40 outside \[onset 10, offset 20\]",
    ):
        load_dataset("casme2", tmp_path)


def test_casme2_no_sheet(tmp_path):
    with pytest.raises(DataError, match="no CASME II coding sheet"):
        load_dataset("casme2", tmp_path)


SAMM_ROWS = [
    dict(subject=6, sample="006_1_2", onset=5562, apex=5564, offset=5566, emotion="Anger"),
    dict(subject=6, sample="006_1_3", onset=3912, apex=3913, offset=3914, emotion="Happiness"),
    dict(subject=7, sample="007_3_1", onset=100, apex=102, offset=103, emotion="Others"),
    dict(subject=28, sample="028_4_1", onset=1071, apex=1200, offset=1134, emotion="Contempt"),
]


@pytest.mark.parametrize("preamble,text_subject", [(True, False), (False, True)])
def test_samm_preamble_subjects_and_corrections(tmp_path, preamble, text_subject):
    samm_tree(tmp_path, SAMM_ROWS, preamble=preamble, text_subject=text_subject, ends_only=True)
    result = inspect_dataset("samm", tmp_path)
    table = result.table.set_index("sample")
    assert table["subject"].tolist() == ["006", "006", "007", "028"]
    assert table["emotion"].tolist() == ["anger", "happiness", "other", "contempt"]
    assert table.loc["028_4_1", "apex"] == 1134  # corrections table: apex outside the range
    assert table.loc["006_1_2", "frames"][0].name == "006_05562.jpg"
    assert table.loc["006_1_2", "objective_class"] == "III"
    assert result.corrections_applied == 2 and not result.fatal


def test_samm_unknown_emotion_is_reported_not_fatal(tmp_path):
    rows = SAMM_ROWS[:1] + [
        dict(subject=9, sample="009_1_1", onset=1, apex=2, offset=3, emotion="Boredom")
    ]
    samm_tree(tmp_path, rows)
    result = inspect_dataset("samm", tmp_path)
    assert len(result.table) == 2
    assert [p.line() for p in result.problems] == [
        f"{tmp_path / 'SAMM_Micro_FACS_Codes_v2.xlsx'}, row 16: 009_1_1: unknown emotion 'boredom' "
        "(known: anger, contempt, happiness, surprise, disgust, fear, sadness, other)"
    ]


SMIC_ROWS = [
    dict(
        subject="s1", sample="s1_ne_01", onset=559740, apex=None, offset=559745, emotion="negative"
    ),
    dict(
        subject="s1", sample="s1_po_01", onset=701843, apex=None, offset=701846, emotion="positive"
    ),
    dict(subject="s2", sample="s2_sur_01", onset=10, apex=None, offset=12, emotion="surprise"),
    dict(subject="s18", sample="s18_sur_03", onset=20, apex=None, offset=20, emotion="surprise"),
]


@pytest.mark.parametrize("layout", ["SMIC_all_raw/HS", "SMIC_all_cropped/HS", "HS"])
def test_smic_labels_from_folders_middle_apex(tmp_path, layout):
    smic_tree(tmp_path, SMIC_ROWS, layout=layout)
    table = load_dataset("smic", tmp_path).set_index("sample")
    assert table["subject"].tolist() == ["s1", "s1", "s2", "s18"]
    assert table["emotion"].tolist() == ["negative", "positive", "surprise", "surprise"]
    assert table.loc["s1_ne_01", ["onset", "apex", "offset"]].tolist() == [559740, 559742, 559745]
    assert table.loc["s1_po_01", "apex"] == 701844
    prefix = "reg_image" if "cropped" in layout else "image"
    assert table.loc["s2_sur_01", "frames"][0].name == f"{prefix}000010.bmp"


def test_smic_empty_clip_is_an_error(tmp_path):
    smic_tree(tmp_path, SMIC_ROWS)
    (tmp_path / "SMIC_all_raw/HS/s3/micro/negative/s3_ne_01").mkdir(parents=True)
    with pytest.raises(DataError, match=r"s3_ne_01: s3_ne_01: no frames$"):
        load_dataset("smic", tmp_path)


CASME3_ROWS = [
    dict(subject="spNO.1", sample="e", onset=2, apex=3, offset=5, emotion="others"),
    dict(subject="spNO.1", sample="e", onset=6, apex=7, offset=9, emotion="Others"),  # same video
    dict(subject="spNO.1", sample="J", onset=1, apex=2, offset=3, emotion="happy"),
    dict(subject="spNO.2", sample="e", onset=138, apex=143, offset=148, emotion="surprise"),
    dict(subject="spNO.40", sample="e", onset=1812, apex=1824, offset=0, emotion="others"),
    dict(subject="spNO.216", sample="e", onset=0, apex=0, offset=4, emotion="others"),
    dict(subject="spNO.3", sample="a", onset=5, apex=9, offset=7, emotion="fear"),
    dict(subject="spNO.3", sample="b", onset=5, apex=6, offset=7, emotion="disgust"),
]


def test_casme3_keys_duplicates_bad_rows_and_error_list(tmp_path):
    casme3_tree(
        tmp_path,
        [r for r in CASME3_ROWS if r["subject"] != "spNO.3" or r["sample"] == "b"],
        error_rows=[CASME3_ROWS[-1]],
    )
    table = load_dataset("casme3", tmp_path)
    # spNO.2_e_138 and spNO.40 excluded by the corrections table, spNO.3 b by the error list
    assert table["sample"].tolist() == ["spNO.1_e_2", "spNO.1_e_6", "spNO.1_j_1", "spNO.216_e_0"]
    assert table["emotion"].tolist() == ["others", "others", "happy", "others"]
    fixed = table.set_index("sample").loc["spNO.216_e_0"]
    assert (fixed["onset"], fixed["apex"], fixed["offset"]) == (1, 1, 4)  # owners' fix: +1
    assert fixed["frames"][0].name == "1.jpg" and fixed["frames"][0].parent.name == "color"


def test_casme3_uncorrected_bad_row_names_the_row(tmp_path):
    casme3_tree(tmp_path, CASME3_ROWS[:1] + [CASME3_ROWS[6]])
    with pytest.raises(
        DataError,
        match=r"JpgIndex_v2.xlsx, row 3: spNO.3_a_5: apex 9 outside \[onset 5, offset 7\]",
    ):
        load_dataset("casme3", tmp_path)


def test_casme3_duplicate_row(tmp_path):
    casme3_tree(tmp_path, CASME3_ROWS[:1] * 2)
    with pytest.raises(DataError, match=r"row 3: spNO.1_e_2: duplicate sample \(also row 2\)"):
        load_dataset("casme3", tmp_path)


def test_corrections_table_is_versioned_and_has_reasons():
    fixes = load_corrections()
    assert CORRECTIONS_VERSION.startswith("1+") and len(CORRECTIONS_VERSION) == 10
    assert len(fixes) == 26 and all(f.reason for f in fixes)
    assert sum(f.field == "exclude" for f in fixes) == 19
