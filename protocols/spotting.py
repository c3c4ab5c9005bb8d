"""Spotting protocols on long videos (MEGC 2019-2022 spotting tasks; docs/spotting.md)."""

from __future__ import annotations

from mer_bench.results.spotting_metrics import CASME2_LV_LIMITS, SAMM_LV_LIMITS
from mer_bench.run.spotting.protocol import SpottingProtocol

casme2_lv = SpottingProtocol(
    name="casme2-lv-spotting",
    description="Micro- and macro-expression spotting on CAS(ME)^2 long videos, LOSO",
    reference="Qu et al., CAS(ME)^2, IEEE TAFFC 2018; MEGC2020 spotting rules",
    year=2020,
    limits={"casme2-lv": CASME2_LV_LIMITS},
)

samm_lv = SpottingProtocol(
    name="samm-lv-spotting",
    description="Micro- and macro-expression spotting on SAMM Long Videos, LOSO",
    reference="Yap et al., SAMM Long Videos, FG 2020; MEGC2020 spotting rules",
    year=2020,
    limits={"samm-lv": SAMM_LV_LIMITS},
)

megc = SpottingProtocol(
    name="megc-spotting",
    description="MEGC composite spotting: CAS(ME)^2 and SAMM Long Videos, LOSO in each, pooled",
    reference="MEGC2020/2021 spotting task",
    year=2021,
    limits={"casme2-lv": CASME2_LV_LIMITS, "samm-lv": SAMM_LV_LIMITS},
    notes="The overall F1 pools both datasets' counts, as published MEGC overalls do.",
)
