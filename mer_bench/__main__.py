"""``python -m mer_bench`` runs the CLI, for environments whose scripts folder is not on PATH."""

from mer_bench.cli import main

main()
