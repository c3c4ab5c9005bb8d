"""The results database: one schema (`schema`), its records (`records`), its migrations
(`migrations`) and the one class that reads and writes it (`Store`)."""

from mer_bench.results.store.database import Store, StoreError, redact
from mer_bench.results.store.records import FoldRecord, RunRecord, check_run_id, new_run_id, now
from mer_bench.results.store.schema import RUN_KINDS, SCHEMA_VERSION, STATUSES

__all__ = [
    "RUN_KINDS",
    "SCHEMA_VERSION",
    "STATUSES",
    "FoldRecord",
    "RunRecord",
    "Store",
    "StoreError",
    "check_run_id",
    "new_run_id",
    "now",
    "redact",
]
