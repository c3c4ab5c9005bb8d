"""A protocol resolved against a source: its labelled samples and their input arrays.

The one place that decides how a protocol's declaration meets a source's capabilities:
- a protocol with an explicit list, on a source with the datasets' own ids: the list; where the
  source also has annotation tables, every listed sample must be found in them, and a listed
  class that differs from the annotation's is reported (the list wins: it is the protocol);
- otherwise (no list, or generated ids): the protocol's emotion rules over the source's tables.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from mer_bench.core.cards import ProtocolSpec
from mer_bench.data.contract import ProtocolData, Source
from mer_bench.data.datasets.corrections import CORRECTIONS_VERSION
from mer_bench.data.datasets.matching import match_listed, require_all
from mer_bench.core.errors import DataError, MerBenchError

log = logging.getLogger(__name__)


def protocol_samples(protocol: ProtocolSpec, source: Source) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The protocol's sample table on `source`, and what resolving it noticed (for provenance)."""
    card, rules = protocol.card, protocol.protocol
    if card.task == "au":
        from mer_bench.data.au import au_samples

        return au_samples(rules, card, source), {"corrections_version": CORRECTIONS_VERSION}
    listed = rules.listed_samples(card.classes)
    if listed is not None and source.sample_ids == "real":
        if not source.has_tables:
            return listed, {}
        tables = {d: source.dataset_table(d) for d in card.datasets}
        match = match_listed(listed, tables, rules.class_of)
        require_all(match, card.name)
        if match.disagreements:
            log.warning(
                "%s: %d listed labels differ from the annotations (the list is kept): %s",
                card.name,
                len(match.disagreements),
                match.disagreements[0],
            )
        return match.found, {
            "label_disagreements": match.disagreements,
            "corrections_version": CORRECTIONS_VERSION,
        }
    if not source.has_tables:
        raise DataError(
            f"source '{source.name}' has no annotation tables and protocol "
            f"'{card.name}' has no explicit sample list: use --source raw or demo"
        )
    tables = {d: source.dataset_table(d) for d in card.datasets}
    return rules.rule_samples(tables, card.classes), {"corrections_version": CORRECTIONS_VERSION}


def manifest_version(protocol: ProtocolSpec) -> str:
    """Version of the protocol's list or rules (and of the corrections table), for provenance."""
    rules = protocol.protocol
    if rules.sample_list is not None:
        return rules.version
    return f"{rules.version}/corrections-{CORRECTIONS_VERSION}"


def resolve_protocol_data(protocol: ProtocolSpec, source: Source, view: Any = None) -> ProtocolData:
    """The protocol's labelled samples and their input arrays, in `view` (None: flow28), from
    one source."""
    if source.name not in protocol.card.sources:
        raise MerBenchError(
            f"protocol '{protocol.card.name}' has no source '{source.name}' "
            f"(it has: {', '.join(protocol.card.sources)})"
        )
    samples, notes = protocol_samples(protocol, source)
    arrays = source.arrays(samples, view)
    provenance = {**source.provenance(), **notes, "manifest_version": manifest_version(protocol)}
    if protocol.card.task != "emotion":  # emotion runs keep the provenance they always had
        provenance["task"] = protocol.card.task
    return ProtocolData(
        samples,
        arrays,
        protocol.card.classes,
        provenance,
        source.data_identity(),
        task=protocol.card.task,
    )
