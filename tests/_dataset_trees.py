"""Builders of tiny dataset trees in the owners' layouts and annotation formats, for tests.

Each builder writes frames (8x8 images by cv2, or empty files when `touch` is set: the loaders
only list frame files) and the annotation sheet the owners ship, with their quirks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl

Row = dict  # subject, sample, onset, apex, offset, emotion, au (owner spellings)


def write_frame(path: Path, touch: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if touch:
        path.touch()
        return
    image = np.full((8, 8, 3), 100, np.uint8)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def _numbers(row: Row, ends_only: bool) -> list[int]:
    onset, apex, offset = int(row["onset"]), row["apex"], int(row["offset"])
    if ends_only:
        return sorted({onset, offset} | ({int(apex)} if str(apex).isdigit() else set()))
    return list(range(onset, offset + 1))


def write_xlsx(path: Path, rows: list[list], sheet: str = "Sheet1") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    book.save(path)


def casme2_tree(
    root: Path,
    rows: list[Row],
    layout: str = "CASME2_RAW_selected",
    ends_only: bool = False,
    touch: bool = False,
    xls: bool = False,
) -> Path:
    """`root/<layout>/subNN/<clip>/img{N}.jpg` (`reg_img{N}.jpg` for Cropped) + coding sheet."""
    prefix = "reg_img" if layout == "Cropped" else "img"
    for r in rows:
        for n in _numbers(r, ends_only):
            write_frame(
                root / layout / f"sub{int(r['subject']):02d}" / r["sample"] / f"{prefix}{n}.jpg",
                touch,
            )
    header = [
        "Subject",
        "Filename",
        None,
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        None,
        "Action Units",
        "Estimated Emotion",
    ]
    body = [
        [
            int(r["subject"]),
            r["sample"],
            None,
            int(r["onset"]),
            r["apex"] if r["apex"] == "/" else int(r["apex"]),
            int(r["offset"]),
            None,
            r.get("au", "4"),
            r["emotion"],
        ]
        for r in rows
    ]
    if xls:
        import xlwt

        book = xlwt.Workbook()
        ws = book.add_sheet("Sheet1")
        for i, line in enumerate([header] + body):
            for j, v in enumerate(line):
                if v is not None:
                    ws.write(i, j, v)
        book.save(str(root / "CASME2_label_Ver_2.xls"))
    else:
        write_xlsx(root / "CASME2-coding-20140508.xlsx", [header] + body)
    return root


def samm_tree(
    root: Path,
    rows: list[Row],
    preamble: bool = True,
    text_subject: bool = False,
    ends_only: bool = False,
    touch: bool = False,
) -> Path:
    """`root/006/006_1_2/006_05562.jpg` + `SAMM_Micro_FACS_Codes_v2.xlsx` (13-row preamble)."""
    for r in rows:
        subject = f"{int(r['subject']):03d}"
        for n in _numbers(r, ends_only):
            write_frame(root / subject / r["sample"] / f"{subject}_{n:05d}.jpg", touch)
    lines: list[list] = []
    if preamble:
        lines += [["SAMM Micro-Movement FACS Codes"], [], ["Version 2"]] + [[] for _ in range(9)]
        lines += [["Micro = 1, Macro = 0"]]
    lines.append(
        [
            "Subject",
            "Filename",
            "Inducement Code",
            "Onset Frame",
            "Apex Frame",
            "Offset Frame",
            "Duration",
            "Micro",
            "Action Units",
            "Estimated Emotion",
            "Objective Classes",
            "Notes",
        ]
    )
    for r in rows:
        subject = f"{int(r['subject']):03d}" if text_subject else int(r["subject"])
        lines.append(
            [
                subject,
                r["sample"],
                1,
                int(r["onset"]),
                int(r["apex"]),
                int(r["offset"]),
                int(r["offset"]) - int(r["onset"]) + 1,
                1,
                r.get("au", "R14"),
                r["emotion"],
                r.get("objective", "III"),
                None,
            ]
        )
    name = "SAMM_Micro_FACS_Codes_v2.xlsx" if preamble else "SAMM_20181215_Micro_FACS_Codes_v2.xlsx"
    write_xlsx(root / name, lines)
    return root


_SMIC_CODES = {"negative": "ne", "positive": "po", "surprise": "sur"}


def smic_tree(
    root: Path,
    rows: list[Row],
    layout: str = "SMIC_all_raw/HS",
    ends_only: bool = False,
    touch: bool = False,
) -> Path:
    """`root/<layout>/s1/micro/negative/s1_ne_01/image559740.bmp` (cropped: `reg_image...`)."""
    prefix = "reg_image" if "cropped" in layout else "image"
    for r in rows:
        clip = root / layout / r["subject"] / "micro" / r["emotion"] / r["sample"]
        for n in _numbers(r, ends_only):
            write_frame(clip / f"{prefix}{n:06d}.bmp", touch)
        (root / layout / r["subject"] / "non_micro").mkdir(parents=True, exist_ok=True)
    return root


def casme3_tree(
    root: Path, rows: list[Row], error_rows: list[Row] = (), touch: bool = False
) -> Path:
    """`root/spNO.1/a/color/166.jpg` + the v2 label sheet (sheet `label`) + the error list."""
    for r in rows:
        if int(r["offset"]) >= int(r["onset"]):
            for n in range(int(r["onset"]), int(r["offset"]) + 1):
                write_frame(root / r["subject"] / r["sample"].lower() / "color" / f"{n}.jpg", touch)
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    write_xlsx(
        root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
        [header]
        + [
            [
                r["subject"],
                r["sample"],
                int(r["onset"]),
                int(r["apex"]),
                int(r["offset"]),
                r.get("au", "4"),
                r.get("objective", "III"),
                r["emotion"],
            ]
            for r in rows
        ],
        sheet="label",
    )
    if error_rows:
        write_xlsx(
            root / "casme3_partA_error_list_ZhouJu.xlsx",
            [header + ["问题", "我们目前的解决方法"]]
            + [
                [
                    r["subject"],
                    r["sample"],
                    int(r["onset"]),
                    int(r["apex"]),
                    int(r["offset"]),
                    "4",
                    "III",
                    r["emotion"],
                    "apex occluded",
                    "去除该张",
                ]
                for r in error_rows
            ],
        )
    return root
