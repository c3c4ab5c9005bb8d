"""Spotting and STR metrics on hand-computed interval fixtures, and where the public code differs."""

from __future__ import annotations

import math

import pytest

from mer_bench.results.spotting_metrics import (
    CASME2_LV_LIMITS,
    SAMM_LV_LIMITS,
    Interval,
    LengthLimits,
    PredictedInterval,
    SpotCounts,
    TruthInterval,
    interval_iou,
    match_intervals,
    recognition_means,
    spotting_report,
    str_report,
)

LIMITS = {"casme2-lv": CASME2_LV_LIMITS, "samm-lv": SAMM_LV_LIMITS}


def _gt(dataset, video, on, off, kind="micro", emotion=None, subject="s1"):
    return TruthInterval(dataset, subject, video, Interval(on, off), kind, emotion)


def _p(video, on, off, emotion=None):
    return PredictedInterval(video, Interval(on, off), emotion)


def _public_calc_iou(p: Interval, g: Interval) -> float:
    """The MEGC2020 spotting baseline's IoU as DATASETS.md describes it (result_helper.py):
    the intersection gets +1 even when the intervals are disjoint."""
    inter = max(0, min(p.offset, g.offset) - max(p.onset, g.onset)) + 1
    return inter / (p.length + g.length - inter)


def test_interval_iou_hand_computed():
    assert interval_iou(Interval(10, 19), Interval(15, 24)) == pytest.approx(5 / 15)
    assert interval_iou(Interval(10, 19), Interval(10, 19)) == 1.0
    assert interval_iou(Interval(3, 3), Interval(3, 3)) == 1.0
    assert interval_iou(Interval(0, 4), Interval(10, 14)) == 0.0
    assert interval_iou(Interval(0, 4), Interval(5, 9)) == 0.0  # adjacent, no shared frame
    with pytest.raises(ValueError, match="before onset"):
        Interval(5, 4)


def test_public_iou_off_by_one_differs_only_for_disjoint_intervals():
    # Overlapping intervals: the two formulas agree (inclusive lengths).
    assert _public_calc_iou(Interval(10, 19), Interval(15, 24)) == pytest.approx(
        interval_iou(Interval(10, 19), Interval(15, 24))
    )
    # Disjoint: mer-bench 0, the public code 1 / (9 frames) and 1 / 2.
    assert interval_iou(Interval(0, 4), Interval(10, 14)) == 0.0
    assert _public_calc_iou(Interval(0, 4), Interval(10, 14)) == pytest.approx(1 / 9)
    # Where it flips a hit: a 1-frame prediction beside a 2-frame truth reaches 0.5 there.
    short = LengthLimits(micro_min=1, micro_max=16)
    assert _public_calc_iou(Interval(5, 5), Interval(3, 4)) == 0.5
    rep = spotting_report([_gt("d", "v", 3, 4)], [_p("v", 5, 5)], {"d": short})
    assert rep.overall["overall"].tp == 0
    # Under MEGC's own length limits it cannot flip one: disjoint 1/(la+lb-1) < 0.5 for la+lb > 3.
    assert _public_calc_iou(Interval(0, 6), Interval(7, 13)) < 0.5


def test_spotting_counts_micro_macro_pooled_hand_computed():
    truth = [
        _gt("casme2-lv", "A", 100, 110),
        _gt("casme2-lv", "A", 200, 250, "macro"),
        _gt("casme2-lv", "A", 400, 407),
        _gt("casme2-lv", "B", 50, 60),
        _gt("samm-lv", "C", 1000, 1059, subject="s9"),
    ]
    preds = [
        _p("A", 102, 112),  # micro, IoU 9/13 with [100,110]: hit
        _p("A", 205, 260),  # macro (56 frames), IoU 46/61: hit
        _p("A", 300, 310),  # micro, nothing there
        _p("A", 401, 406),  # 6 frames < 7: not a micro-expression, IoU 0.75 but no hit
        _p("B", 50, 60),
        _p("B", 51, 61),  # two on one truth: one hit, one false positive
        _p("C", 1010, 1069),  # 60 frames (SAMM micro), IoU 50/70: hit
        _p("C", 2000, 2200),  # 201 frames: SAMM macro, false positive
        _p("D", 10, 60),  # a scored video with no expression: false positive
    ]
    rep = spotting_report(truth, preds, LIMITS, videos={"D": "samm-lv"})
    cas = rep.per_dataset["casme2-lv"]
    assert (cas["micro"].tp, cas["micro"].n_pred, cas["micro"].n_gt) == (2, 5, 3)
    assert (cas["macro"].tp, cas["macro"].n_pred, cas["macro"].n_gt) == (1, 1, 1)
    assert cas["overall"].f1 == pytest.approx(0.6)  # P 3/6, R 3/4
    assert cas["overall"].precision == 0.5 and cas["overall"].recall == 0.75
    samm = rep.per_dataset["samm-lv"]
    assert (samm["overall"].tp, samm["overall"].n_pred, samm["overall"].n_gt) == (1, 3, 1)
    assert samm["overall"].f1 == pytest.approx(0.5)
    # The overall pools counts (8/14), it is not the mean of the datasets' F1 (0.55).
    assert rep.f1 == pytest.approx(8 / 14)
    assert rep.overall["micro"] == SpotCounts(3, 7, 4)
    assert {(h.truth, h.prediction) for h in rep.hits} == {(0, 0), (1, 1), (3, 4), (4, 6)}


def test_unknown_video_and_missing_limits_are_refused():
    with pytest.raises(ValueError, match="'Z' is not a scored video"):
        spotting_report([_gt("casme2-lv", "A", 1, 9)], [_p("Z", 1, 9)], LIMITS)
    with pytest.raises(ValueError, match="no length limits"):
        spotting_report([_gt("other", "A", 1, 9)], [], LIMITS)


def test_no_predictions_and_empty_pools():
    rep = spotting_report([_gt("casme2-lv", "A", 1, 9)], [], LIMITS)
    assert rep.f1 == 0.0 and math.isnan(rep.overall["overall"].precision)
    assert math.isnan(SpotCounts().f1)


def test_matching_is_one_to_one_where_strs_code_lets_one_prediction_claim_two():
    # Two overlapping truths, one prediction with IoU 0.8 against each.
    truth = [Interval(0, 7), Interval(2, 9)]
    assert [round(interval_iou(Interval(0, 9), g), 2) for g in truth] == [0.8, 0.8]
    assert match_intervals(truth, [Interval(0, 9)]) == [(0, 0, 0.8)]


STR_TRUTH = [
    _gt("casme2-lv", "V", a, b, emotion=e)
    for a, b, e in [
        (10, 20, "negative"),
        (40, 50, "negative"),
        (70, 80, "positive"),
        (100, 110, "surprise"),
        (130, 140, "others"),
    ]
]
STR_PREDS = [
    _p("V", a, b, e)
    for a, b, e in [
        (10, 20, "negative"),
        (40, 50, "positive"),
        (70, 80, "positive"),
        (100, 110, "negative"),
        (130, 140, "negative"),
        (200, 210, "negative"),
    ]
]
CLASSES = ("negative", "positive", "surprise")


def test_str_scores_hand_computed():
    rep = str_report(STR_TRUTH, STR_PREDS, CLASSES)
    assert (rep.spotting.tp, rep.spotting.n_pred, rep.spotting.n_gt) == (5, 6, 5)
    assert rep.spotting.f1 == pytest.approx(10 / 11)
    # The 'others' hit is spotted but not classified: 4 hits in the confusion.
    assert rep.confusion == ((1, 1, 0), (0, 1, 0), (1, 0, 0))
    assert rep.uar == pytest.approx(0.5)  # recalls 1/2, 1, 0
    assert rep.mean_precision == pytest.approx(1 / 3)  # precisions 1/2, 1/2, 0
    assert rep.uf1 == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert rep.f1_a == pytest.approx(0.4)
    assert rep.strs == pytest.approx(10 / 11 * 0.4)


def test_public_strs_uar_is_mean_precision_ours_is_mean_recall():
    rep = str_report(STR_TRUTH, STR_PREDS, CLASSES)
    public_uar = rep.mean_precision  # what the STRS code prints as "UAR"
    assert public_uar == pytest.approx(1 / 3)
    assert rep.uar == pytest.approx(0.5)
    assert rep.uar != pytest.approx(public_uar)


def test_str_refuses_unknown_emotion_and_scores_no_hit_as_zero():
    with pytest.raises(ValueError, match="emotion 'joy'"):
        str_report(STR_TRUTH, [_p("V", 10, 20, "joy")], CLASSES)
    rep = str_report(STR_TRUTH, [_p("V", 500, 520, "negative")], CLASSES)
    assert rep.spotting.tp == 0 and rep.strs == 0.0 and math.isnan(rep.f1_a)
    assert all(math.isnan(v) for v in recognition_means([[0, 0], [0, 0]]))
