"""Key-frame robustness: seeded apex jitter, clamped and counted, in the identity only when on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mer_bench.core.errors import UsageError
from mer_bench.data.jitter import jitter_apex, jitter_offset
from mer_bench.data.sources import source_options
from mer_bench.data.sources.options import identity_of
from mer_bench.data.sources.raw import RawSource


def test_offsets_are_seeded_per_sample_and_cover_the_range():
    draws = [jitter_offset(2, 0, f"casme2/sub01/EP{i}") for i in range(400)]
    assert set(draws) == {-2, -1, 0, 1, 2}
    assert draws == [jitter_offset(2, 0, f"casme2/sub01/EP{i}") for i in range(400)]
    assert draws != [jitter_offset(2, 1, f"casme2/sub01/EP{i}") for i in range(400)]


def test_apex_is_clamped_into_the_clip_and_says_so():
    key = next(f"d/s/{i}" for i in range(100) if jitter_offset(3, 0, f"d/s/{i}") == -3)
    near_onset = jitter_apex(10, 12, 20, 3, 0, key)  # 12 - 3 = 9 < onset + 1
    assert (near_onset.offset, near_onset.apex, near_onset.clamped) == (-3, 11, True)
    inside = jitter_apex(10, 15, 20, 3, 0, key)
    assert (inside.apex, inside.clamped) == (12, False)


def test_identity_has_the_jitter_only_when_it_is_on(tmp_path):
    plain = identity_of(source_options("raw", data_root=tmp_path))
    assert "apex_jitter" not in plain and "jitter_seed" not in plain
    jittered = identity_of(source_options("raw", data_root=tmp_path, apex_jitter=2))
    assert jittered == {**plain, "apex_jitter": 2, "jitter_seed": 0}
    with pytest.raises(UsageError, match="--apex-jitter must be at least 0, got -1") as err:
        source_options("raw", apex_jitter=-1)
    assert err.value.exit_code == 2


def test_raw_source_moves_apexes_and_counts_them(tmp_path):
    frames = [tmp_path / f"img{n}.jpg" for n in range(10, 21)]
    table = pd.DataFrame(
        {
            "dataset": "casme2",
            "subject": ["sub01", "sub02"],
            "sample": ["EP01", "EP02"],
            "onset": 10,
            "apex": [11, 15],
            "offset": 20,
            "frames": [frames, frames],
        }
    )
    source = RawSource(
        source_options("raw", data_root=tmp_path, apex_jitter=3),
        roots={"casme2": tmp_path},
        loader=lambda d, r: table,
    )
    picked = source.sample_frames(table[["dataset", "subject", "sample"]])
    expected = [
        jitter_apex(10, a, 20, 3, 0, f"casme2/{s}/{n}")
        for a, s, n in ((11, "sub01", "EP01"), (15, "sub02", "EP02"))
    ]
    assert [f.apex for f in picked] == [e.apex for e in expected]
    assert [f.apex_path.name for f in picked] == [f"img{e.apex}.jpg" for e in expected]
    counts = source.provenance()["apex_jitter"]
    assert counts == {
        "k": 3,
        "seed": 0,
        "samples": 2,
        "moved": sum(e.apex != a for e, a in zip(expected, (11, 15))),
        "clamped": sum(e.clamped for e in expected),
    }
    assert np.all([10 < f.apex <= 20 for f in picked])
