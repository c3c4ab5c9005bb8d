"""A protocol's explicit sample list, read without any data (for `score` and `import`)."""

from __future__ import annotations

import pandas as pd

from mer_bench.cards import ProtocolSpec
from mer_bench.data import InputArrays, Source
from mer_bench.errors import DataError


class SampleListSource(Source):
    """A source with no data: protocols with an explicit sample list still yield it."""

    name = "list"
    has_tables = False

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        raise DataError(f"no dataset tables here (asked for {dataset}): this protocol has no "
                        "explicit sample list")

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        raise DataError("reading a sample list reads no input arrays")


def explicit_sample_list(protocol: ProtocolSpec) -> pd.DataFrame | None:
    """The protocol's shipped sample list, or None when it is derived from dataset tables."""
    try:
        return protocol.protocol.samples(SampleListSource())
    except DataError:
        return None
