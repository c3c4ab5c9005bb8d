"""Selection policies declare what the ranking says about them: whether they read test labels,
their chance-line rule and their footnote. A policy registered from outside is ranked, flagged
and given its chance line with no edit to ranking, results or render."""

from __future__ import annotations

import pandas as pd
import pytest

from mer_bench.cli.render import selection_label
from mer_bench.cli.results_cmd import short_selection
from mer_bench.core.registry import POLICIES
from mer_bench.results import ranking
from mer_bench.run.selection.base import SelectionPolicy
from mer_bench.run.selection.fixed import Fixed, whole_fold_job


class PeekAtTest(SelectionPolicy):
    """A made-up test-label reader (kept from the last three epochs), for the declarations."""

    name = "peek-last-3"
    description = "test only"
    reads_test_labels = True
    pairs_with = ("fixed",)

    def __init__(self) -> None:
        pass

    @classmethod
    def chance_candidates(cls, epochs: int | None) -> int:
        return min(3, int(epochs or 1))

    def begin(self, task, recipe):
        return whole_fold_job(task, recipe, record_rows=task.fold.test_idx)


class Calm(Fixed):
    """A made-up honest policy that words its rule as `fixed` does."""

    name = "calm"


@pytest.fixture()
def policies():
    POLICIES.register("peek-last-3", PeekAtTest)
    POLICIES.register("calm", Calm)
    yield
    POLICIES.unregister("peek-last-3")
    POLICIES.unregister("calm")


def test_builtin_declarations_keep_todays_words():
    assert ranking.chance_candidates("fixed", 20) == 1
    assert ranking.chance_candidates("nested", 20) == 1
    assert ranking.chance_candidates("best-on-test", 20) == 20
    assert ranking.rule_text("fixed", None, True) == (
        "fixed: fitted once, declared before the run; the held-out subject predicted once"
    )
    assert ranking.rule_text("fixed", 20, True).startswith("fixed: 20 epochs, declared")
    assert ranking.rule_text("best-on-test", 20, False).startswith(
        "best-on-test: per held-out subject, the epoch (of 20) with the best accuracy"
    )
    assert ranking.rule_text("val-subjects", 20, True) == (
        "val-subjects: chosen on training subjects only (at most 20 epochs); the held-out "
        "subject predicted once"
    )
    assert ranking.rule_text("nobody", 20, False) == "nobody: a policy not registered here"
    assert ranking.selection_text("best-on-test") == ranking.TEST_SELECTED_MARK
    assert short_selection("best-on-test") == "best-on-test!" and short_selection("x") == "x"
    assert "bold red" in selection_label("best-on-test") and selection_label("fixed") == "fixed"


def test_an_outside_policy_is_flagged_and_given_its_own_chance_rule(policies):
    assert "peek-last-3" not in ranking.honest_policies() and "calm" in ranking.honest_policies()
    assert ranking.chance_candidates("peek-last-3", 20) == 3
    assert ranking.selection_text("peek-last-3") == "⚠ peek-last-3 (test-selected)"
    assert short_selection("peek-last-3") == "peek-last-3!"
    assert ranking.rule_text("peek-last-3", 20, False).startswith(
        "peek-last-3: per held-out subject, chosen among 20 epochs on that subject's own labels"
    )
    assert ranking.rule_text("calm", 5, True).startswith(
        "calm: 5 epochs, declared before"
    )  # inherited
    assert ranking.run_problem("peek-last-3", 0, "torch", ranking.honest_policies()) == (
        "peek-last-3 with 0 epochs: no epoch to choose from"
    )
    assert ranking.run_problem("peek-last-3", 5, "torch", ranking.honest_policies()) is None


def test_leak_rows_pair_a_test_reader_with_its_declared_honest_policy(policies):
    def row(selection, uf1, honest):
        return {
            "model": "m",
            "view": "flow28",
            "epochs": 5,
            "selection": selection,
            "honest": honest,
            "seeds": "0",
            "leak_key": "k",
            "origin": "",
            "uf1_mean": uf1,
            "uar_mean": uf1,
        }

    table = pd.DataFrame(
        [row("fixed", 0.5, True), row("peek-last-3", 0.75, False), row("calm", 0.4, True)]
    )
    gaps = ranking.leakage_gaps(table)
    assert len(gaps) == 1
    assert gaps.iloc[0]["UF1 peek-last-3"] == 0.75 and gaps.iloc[0]["UF1 fixed"] == 0.5
    assert gaps.iloc[0]["UF1 gap"] == pytest.approx(0.25)
