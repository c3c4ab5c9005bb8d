"""AU strings of every dataset parsed into one vocabulary; unparseable strings name file and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _dataset_trees import casme2_tree, samm_tree

from mer_bench.core.errors import DataError
from mer_bench.data.au import (
    AUCode,
    AUParseError,
    au_numbers,
    au_targets,
    parse_au_string,
)
from mer_bench.data.datasets import inspect_dataset, load_dataset


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("4+7", {4, 7}),  # CASME II
        ("AU4+L12", {4, 12}),  # SAMM, AU prefix and a side
        ("R14A", {14}),  # SAMM, side and trailing letter
        ("AU 1 + AU 2 + R AU12", {1, 2, 12}),
        ("L1+ 2 +4B", {1, 2, 4}),
        ("4,7，12", {4, 7, 12}),  # CAS(ME)^3: ASCII and full-width commas
        ("12.0", {12}),  # a numeric sheet cell read as text
        (12.0, {12}),  # ... or as a float
        ("", set()),
        (None, set()),
        ("-", set()),
        ("none", set()),
        ("6+12+17(k)", {6, 12}),  # 4DME: static AU left out by default
    ],
)
def test_au_strings_of_every_dataset(text, numbers):
    assert au_numbers(text) == frozenset(numbers)


def test_codes_keep_side_suffix_and_static():
    assert parse_au_string("R14A+AU4+17(k)") == (
        AUCode(14, side="R", suffix="A"),
        AUCode(4),
        AUCode(17, static=True),
    )
    assert au_numbers("6+17(k)", keep_static=True) == {6, 17}
    assert AUCode(14, side="R").name == "AU14"


@pytest.mark.parametrize(
    "text, why",
    [
        ("12/15", "alternative"),
        ("R12 or R15", "alternative"),
        ("4++7", "empty token"),
        ("AU3", "AU 3 is not a FACS"),
        ("4+x", "'x' is not an AU code"),
        ("ref(4)", "not an AU code"),
        ("AU12AB", "not an AU code"),
    ],
)
def test_refused_strings_say_why(text, why):
    with pytest.raises(AUParseError, match=why):
        parse_au_string(text)


def test_targets_are_one_column_per_au_in_the_order_asked():
    table = pd.DataFrame(
        {"dataset": "x", "sample": ["a", "b", "c"], "action_units": ["4+7", "R14A+AU1", ""]}
    )
    targets = au_targets(table, [1, 4, 14])
    np.testing.assert_array_equal(targets, [[0, 1, 0], [1, 0, 1], [0, 0, 0]])
    assert targets.dtype == np.uint8


def test_an_unparseable_string_names_the_sheet_row_and_string(tmp_path):
    rows = [
        {
            "subject": 1,
            "sample": "EP01_1",
            "onset": 10,
            "apex": 12,
            "offset": 14,
            "emotion": "happiness",
            "au": "12",
        },
        {
            "subject": 2,
            "sample": "EP02_1",
            "onset": 10,
            "apex": 12,
            "offset": 14,
            "emotion": "disgust",
            "au": "4/9",
        },
    ]
    root = casme2_tree(tmp_path / "CASME2", rows, touch=True)
    result = inspect_dataset("casme2", root)
    assert len(result.table) == 2  # an AU typo does not cost an emotion task its sample
    sheet = result.table["annotation_file"].iloc[1]
    assert result.table["annotation_row"].tolist() == [2, 3]
    doctor_line = [p.line() for p in result.problems if "AU string" in p.message]
    assert doctor_line == [
        (
            f"{sheet}, row 3: EP02_1: AU string '4/9' cannot be parsed (an "
            "alternative ('/' or 'or') does not say which AU was seen)"
        )
    ]
    with pytest.raises(DataError) as err:
        au_targets(result.table, [4, 9, 12])
    assert err.value.exit_code == 3
    assert str(err.value).startswith(f"{sheet}, row 3: AU string '4/9' cannot be parsed")


def test_samm_strings_become_targets(tmp_path):
    rows = [
        {
            "subject": "006",
            "sample": "006_1_2",
            "onset": 5,
            "apex": 6,
            "offset": 8,
            "emotion": "Anger",
            "au": "AU4+L12",
        },
        {
            "subject": "007",
            "sample": "007_3_1",
            "onset": 5,
            "apex": 6,
            "offset": 8,
            "emotion": "Contempt",
            "au": "R14A",
        },
    ]
    table = load_dataset("samm", samm_tree(tmp_path / "SAMM", rows, touch=True))
    np.testing.assert_array_equal(au_targets(table, [4, 12, 14]), [[1, 1, 0], [0, 0, 1]])
