"""Baselines registered beside HTNet through the `mer_bench.models` entry points.

One file per model family, each exporting a `ModelSpec` (card + builder):
`ststnet`, `offapexnet`, `dual_inception` (the MEGC 2019 CNNs), `timm_models` (a timm ResNet-18
and ViT-Tiny adapted to 28x28 flow) and `svm_hoof` (a scikit-learn SVM on hand-crafted features).
"""
