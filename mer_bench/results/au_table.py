"""The ranking of an AU task (`ProtocolCard.task == "au"`) as `mer-bench table` prints it.

One row per configuration on one source (the board's grouping: `config_key`), honest policies
unless asked otherwise: AU-F1 and AU-AUC as mean ± sd over seeds, then each AU's F1 (mean over
seeds), all recomputed from the stored predictions (`mer_bench.results.summary`). AU tasks have
no chance-level or bootstrap columns yet: the emotion table's machinery counts classes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mer_bench.results.metrics import AU_METRICS
from mer_bench.results.ranking import BEST_ON_TEST, selection_text, with_spread
from mer_bench.results.summary import au_report_for_predictions

RULE = (
    "AU-F1: per AU, binary F1 of sigmoid > 0.5 on the predictions pooled over folds, "
    "averaged over the AUs (MEB's AU-F1); AU-AUC: mean per-AU ROC AUC; mean ± sd over seeds"
)


def au_table(
    runs: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    aus: tuple[str, ...],
    include_test_selected: bool = False,
    digits: int = 4,
) -> pd.DataFrame:
    """Rows (model, selection, seeds, AU-F1, AU-AUC, one column per AU), best AU-F1 first."""
    if not include_test_selected:
        runs = runs[runs["selection"] != BEST_ON_TEST]
    rows = []
    for _, group in runs.groupby("config_key", sort=False):
        reports = [au_report_for_predictions(predictions[r], len(aus)) for r in group["run_id"]]
        first = group.iloc[0]
        row = {
            "model": first["model"],
            "selection": selection_text(first["selection"]),
            "seeds": ",".join(str(s) for s in sorted(group["seed"])),
        }
        for name, label in AU_METRICS.items():
            values = np.array([r.pooled.values[name] for r in reports], dtype=float)
            row[label] = values.mean()
            row[f"_{label}"] = with_spread(
                values.mean(),
                values.std(ddof=1) if len(values) > 1 else float("nan"),
                len(values),
                digits,
            )
        for j, au in enumerate(aus):
            f1 = [r.pooled.f1_per_class[j] for r in reports]
            known = [v for v in f1 if v is not None]
            row[au] = f"{np.mean(known):.{digits}f}" if known else "-"
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).sort_values("AU-F1", ascending=False, kind="stable")
    for label in AU_METRICS.values():
        table[label] = table.pop(f"_{label}")
    return table.reset_index(drop=True)
