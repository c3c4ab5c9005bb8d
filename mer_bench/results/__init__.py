"""Results: the store, metrics, statistics, chance levels, ranking, scoring and submission files.
Imports data and core, never the run layer."""
