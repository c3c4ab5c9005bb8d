"""mer-bench: honest benchmarking of facial micro-expression recognition models."""

__version__ = "0.1.0"
