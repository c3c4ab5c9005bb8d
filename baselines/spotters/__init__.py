"""Baseline spotters of the spotting task (entry-point group `mer_bench.spotters`)."""
