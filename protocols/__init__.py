"""Built-in evaluation protocols of mer-bench (import name `mer_bench_protocols`).

One module per protocol, each exposing `spec` (a `ProtocolSpec`) registered through the
`mer_bench.protocols` entry-point group in pyproject.toml.
"""
