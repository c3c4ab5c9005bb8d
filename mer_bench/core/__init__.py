"""The core every other layer builds on: errors, hashing, cards, the registries, run identity,
paths and progress reporting. It imports nothing else of mer-bench."""
