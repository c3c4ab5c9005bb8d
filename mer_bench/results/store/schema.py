"""The results schema, written once (SQLAlchemy Core tables) for every database backend.

Version 2. What is stored is what cannot be recomputed: the run's identity and provenance, each
fold's record, and each held-out sample's label, prediction and class probabilities. Scores are
never stored (every reader recomputes them from the predictions); the epoch count lives in the
recipe and a fold's test size is the count of its predictions. `pred` is kept beside `probs_json`
on purpose: it is the prediction that is scored (a submission declares it), and every writer
checks that it is the arg-max of the probabilities.

Older databases are brought to this version by `mer_bench.results.store.migrations`.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

SCHEMA_VERSION = 2

#: Run statuses. `running`: a process is training it; `interrupted`: stopped (Ctrl-C, SIGTERM) with
#: some folds stored, resumable; `failed`: a fold raised; `finished`: every fold stored;
#: `imported`: read from a submission file.
STATUSES = ("running", "interrupted", "failed", "finished", "imported")

#: Run kinds. `benchmark`: a cross-validated run (folds, held-out predictions, ranked);
#: `final`: one model trained on every subject of a protocol for use (never ranked).
RUN_KINDS = ("benchmark", "final")

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("kind", Text, nullable=False, default="benchmark"),  # benchmark | final (never ranked)
    Column("experiment_id", Text),  # runs launched together (the seeds of one --seeds)
    Column("model", Text, nullable=False),
    Column("protocol", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("view", Text, nullable=False),
    Column("selection", Text, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("identity_json", Text, nullable=False),  # mer_bench.core.identity.RunIdentity
    Column("config_hash", Text, nullable=False),  # identity with the seed
    Column("group_hash", Text, nullable=False),  # identity without the seed (seeds of one config)
    Column("recipe_json", Text, nullable=False),
    Column("classes_json", Text, nullable=False),
    Column("card_json", Text, nullable=False),
    Column("provenance_json", Text, nullable=False),
    Column("mer_bench_version", Text, nullable=False),
    Column("git_commit", Text),
    Column("torch_version", Text),
    Column("device_name", Text),
    Column("executor", Text, nullable=False),
    Column("n_folds", Integer, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text),
    Column("status", Text, nullable=False),
    Column("estimated_seconds", Float),  # the ETA printed before training
    Column("wall_seconds", Float),  # measured, summed over the run's sessions
    Column("content_hash", Text),  # of the predictions, for duplicate imports
    Column("host", Text),  # where a running run runs (to tell a dead run from a live one)
    Column("pid", Integer),
    Column("heartbeat_at", Text),
    CheckConstraint(
        "status IN ({})".format(", ".join(f"'{s}'" for s in STATUSES)), name="runs_status"
    ),
    CheckConstraint(
        "kind IN ({})".format(", ".join(f"'{k}'" for k in RUN_KINDS)), name="runs_kind"
    ),
)

folds = Table(
    "folds",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("fold_index", Integer, nullable=False),
    Column("fold_key", Text, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("n_train", Integer, nullable=False),
    Column("epochs_trained", Integer, nullable=False),
    Column("selected_epoch", Integer),
    Column("selection_json", Text),  # what the policy chose and the scores behind the choice
    Column("seconds", Float, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("artifact", Text),  # saved weights of the fold, relative to the store
    PrimaryKeyConstraint("run_id", "fold_index"),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("fold_index", Integer, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("sample", Text, nullable=False),
    Column("label", Integer, nullable=False),
    Column("pred", Integer, nullable=False),
    Column("probs_json", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "dataset", "subject", "sample"),
    ForeignKeyConstraint(
        ["run_id", "fold_index"], ["folds.run_id", "folds.fold_index"], ondelete="CASCADE"
    ),
    Index("predictions_by_run", "run_id"),
)
