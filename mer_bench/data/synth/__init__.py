"""Synthetic micro-expression videos for the out-of-the-box demo (`mer-bench synth`, `--source demo`).

faces (the public-domain photos and their landmarks) -> identity (one neutral face per subject)
-> motion (action units, time course, distractors) -> writers (the owners' layouts) -> generate.
"""
