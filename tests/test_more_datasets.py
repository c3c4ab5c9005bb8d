"""CASME (I), MMEW and 4DME: loaders in their owners' layouts, planted problems, protocols."""

from __future__ import annotations

import json
from pathlib import Path

from _dataset_trees import casme2_tree, write_frame, write_xlsx
from test_au_task import TreeSource
from typer.testing import CliRunner

from mer_bench.cli import app
from mer_bench.core import registry
from mer_bench.data.au import au_targets
from mer_bench.data.datasets import inspect_dataset, load_dataset
from mer_bench.data.resolve import protocol_samples


class UsableRows(TreeSource):
    """The usable rows of each tree (its planted problems left out, as `raw` never does)."""

    def dataset_table(self, dataset: str):
        return load_dataset(dataset, self.roots[dataset], strict=False)


def casme_tree(root: Path) -> Path:
    """`CASME_raw_selected/subNN/<clip>/<clip>-<n>.jpg` (3-digit padding on one clip, none on
    the other, as the release mixes them) + the sheet with its blank columns and ApexF2."""
    clips = [
        (1, "EP01_5", 10, 12, None, 14, "4+L14", "tense", "{:03d}"),
        (1, "EP03_2", 20, 23, 24, 26, "4+9", "disgust", "{}"),
        (2, "EP02_1", 5, 7, None, 9, "1+2", "surprise", "{:03d}"),
        (2, "EP07_4", 30, 40, None, 35, "12", "repression", "{}"),  # apex after offset
        (3, "EP08_1", 1, 2, None, 3, "4/7", "tense", "{}"),
    ]  # AU string refused
    for subject, clip, onset, _, _, offset, *_, pad in clips:
        for n in range(onset, offset + 1):
            write_frame(
                root
                / "CASME_raw_selected"
                / f"sub{subject:02d}"
                / clip
                / f"{clip}-{pad.format(n)}.jpg",
                touch=True,
            )
    (root / "CASME_raw_selected/sub01/EP03_2" / "EP03_2-23.jpg").unlink()  # missing apex
    write_xlsx(
        root / "casme.xlsx",
        [
            [
                "Subject",
                "Filename",
                None,
                "OnsetF",
                "ApexF1",
                "ApexF2",
                "OffsetF",
                None,
                "AU",
                "Emotion",
            ],
            *[[s, c, None, o, a, a2, f, None, au, e] for s, c, o, a, a2, f, au, e, _ in clips],
        ],
    )
    return root


def mmew_tree(root: Path, layout: str = "owners") -> Path:
    """The owners' `S03/happiness/S03-01-002/1.jpg`, or MEB's `Micro_Expression/<emotion>/...`;
    the sheet says 'others' for clips in the repression folder."""
    clips = [
        (3, "S03-01-002", "happiness", 3, 5, 8, "6+12"),
        (3, "S03-04-001", "others", 2, 4, 6, "AU4+R14"),
        (5, "S05-02-003", "surprise", 1, 3, 5, "1+2+5"),
        (5, "S05-03-001", "disgust", 2, 3, 4, "9+10"),
    ]
    for subject, clip, emotion, onset, _, offset, _ in clips:
        folder = "repression" if emotion == "others" else emotion
        base = (
            root / f"S{subject:02d}" / folder
            if layout == "owners"
            else root / "Micro_Expression" / folder
        )
        for n in range(onset, offset + 1):
            write_frame(base / clip / f"{n}.jpg", touch=True)
    write_xlsx(
        root / "MMEW_Micro_Exp.xlsx",
        [
            [
                "Subject",
                "Filename",
                "OnsetFrame",
                "ApexFrame",
                "OffsetFrame",
                "Action Units",
                "Estimated Emotion",
                "remarks",
            ],
            *[[f"S{s:02d}", c, o, a, f, au, e, None] for s, c, e, o, a, f, au in clips],
            ["S05", "S05-09-009", 1, 2, 3, "4", "fear", None],
        ],
    )  # no clip folder
    return root


def fourdme_tree(root: Path) -> Path:
    """`4DMicro/gray_micro/<sub_ID>/<fold_name>/` + the labelling sheet (`(k)`: static AUs)."""
    clips = [
        ("S01", "S01_01", 10, 12, 15, "AU4+AU7+AU17(k)", "negative"),
        ("S01", "S01_02", 3, 5, 7, "AU12+AU6", "positive"),
        ("S02", "S02_01", 20, 22, 24, "AU1+AU2", "surprise"),
        ("S02", "S02_02", 5, 6, 7, "AU14", "Repression"),
    ]
    for subject, clip, onset, _, offset, *_ in clips:
        for n in range(onset, offset + 1):
            write_frame(root / "4DMicro/gray_micro" / subject / clip / f"{n:04d}.jpg", touch=True)
    write_xlsx(
        root / "4DME_Labelling_Micro_release v1.xlsx",
        [
            ["sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs", "Emotion", "AU1", "AU2"],
            *[[*c, 0, 0] for c in clips],
            ["S02", "S02_03", 9, 8, 12, "AU4", "negative", 0, 0],
        ],
    )  # apex before onset
    return root


def lines(result) -> list[str]:
    return [p.line() for p in result.problems]


def test_casme_loader_and_its_planted_problems(tmp_path):
    root = casme_tree(tmp_path / "CASME")
    result = inspect_dataset("casme", root)
    sheet, frames = root / "casme.xlsx", root / "CASME_raw_selected"
    assert result.table["sample"].tolist() == ["EP01_5", "EP02_1", "EP08_1"]
    assert result.table["subject"].tolist() == ["sub01", "sub02", "sub03"]
    first = result.table.iloc[0]
    assert (first["onset"], first["apex"], first["offset"]) == (10, 12, 14)
    assert len(first["frames"]) == 5 and first["frames"][0].name == "EP01_5-010.jpg"
    assert result.table["apex2"].tolist() == ["", "", ""]
    assert lines(result) == [
        f"{frames}/sub01/EP03_2, row 3: EP03_2: missing apex frame 23",
        f"{sheet}, row 5: EP07_4: apex 40 outside [onset 30, offset 35]",
        (
            f"{sheet}, row 6: EP08_1: AU string '4/7' cannot be parsed (an alternative ('/' or "
            "'or') does not say which AU was seen)"
        ),
    ]


def test_mmew_loader_reads_both_layouts_and_the_others_folder(tmp_path):
    for layout in ("owners", "meb"):
        root = mmew_tree(tmp_path / layout / "MMEW", layout)
        result = inspect_dataset("mmew", root)
        table = result.table
        assert table["sample"].tolist() == ["S03-01-002", "S03-04-001", "S05-02-003", "S05-03-001"]
        assert table["emotion"].tolist() == ["happiness", "others", "surprise", "disgust"]
        assert "repression" in str(table["frames"].iloc[1][0])
        assert table["subject"].tolist() == ["S03", "S03", "S05", "S05"]
        missing = [line for line in lines(result) if "clip folder missing" in line]
        assert len(missing) == 1 and "S05-09-009" in missing[0] and ", row 6:" in missing[0]


def test_fourdme_loader_static_aus_and_bad_rows(tmp_path):
    root = fourdme_tree(tmp_path / "4DME")
    result = inspect_dataset("4dme", root)
    sheet = root / "4DME_Labelling_Micro_release v1.xlsx"
    assert result.table["sample"].tolist() == ["S01_01", "S01_02", "S02_01", "S02_02"]
    assert result.table["emotion"].tolist() == ["negative", "positive", "surprise", "repression"]
    assert lines(result) == [f"{sheet}, row 6: S02_03: apex 8 outside [onset 9, offset 12]"]
    # static (k) AUs are left out of AU targets, as MEB leaves them out
    assert au_targets(result.table, [4, 7, 17])[0].tolist() == [1, 1, 0]


def test_emotion_protocols_resolve_with_their_classes(tmp_path):
    source = UsableRows(
        {
            "casme": casme_tree(tmp_path / "CASME"),
            "mmew": mmew_tree(tmp_path / "MMEW"),
            "4dme": fourdme_tree(tmp_path / "4DME"),
        }
    )
    got = {}
    for name in ("casme", "mmew", "4dme"):
        samples, _ = protocol_samples(registry.get_protocol(name), source)
        got[name] = samples["class"].tolist()
    assert got == {
        "casme": ["tense", "surprise", "tense"],
        "mmew": ["happiness", "others", "surprise", "disgust"],
        "4dme": ["negative", "positive", "surprise", "repression"],
    }


def test_cd6me_au_leaves_out_each_loaded_dataset(tmp_path):
    rows = [
        {
            "subject": s,
            "sample": f"EP0{s}_1",
            "onset": 10,
            "apex": 12,
            "offset": 14,
            "emotion": "happiness",
            "au": "4+12",
        }
        for s in (1, 2)
    ]
    source = UsableRows(
        {
            "casme2": casme2_tree(tmp_path / "CASME2", rows, touch=True),
            "mmew": mmew_tree(tmp_path / "MMEW"),
            "4dme": fourdme_tree(tmp_path / "4DME"),
        }
    )
    samples, _ = protocol_samples(registry.get_protocol("cd6me-au"), source)
    assert samples.groupby("dataset", sort=False).size().to_dict() == {
        "casme2": 2,
        "4dme": 4,
        "mmew": 4,
    }  # CD6ME's order; casme, samm, casme3 absent
    assert samples.set_index("sample")["class"]["S01_01"] == "AU4+AU7"  # 17(k) left out


def test_doctor_reports_the_new_datasets_with_file_and_row(tmp_path):
    data = tmp_path / "data"
    casme_tree(data / "CASME")
    mmew_tree(data / "MMEW")
    fourdme_tree(data / "4DME")
    result = CliRunner().invoke(app, ["doctor", "--data-root", str(data), "--no-images"])
    out = result.output
    assert f"{data}/CASME/casme.xlsx, row 5: EP07_4: apex 40 outside [onset 30, offset 35]" in out
    assert f"{data}/4DME/4DME_Labelling_Micro_release v1.xlsx, row 6: S02_03: apex 8" in out
    assert "S05-09-009: clip folder missing" in out
    report = json.loads(
        CliRunner()
        .invoke(app, ["doctor", "--data-root", str(data), "--json", "--no-images"])
        .output
    )
    found = {d["name"]: d for d in report["datasets"]}
    assert (found["casme"]["samples"], found["mmew"]["samples"], found["4dme"]["samples"]) == (
        3,
        4,
        4,
    )
