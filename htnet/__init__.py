"""HTNet (Wang et al., Neurocomputing 2024) for mer-bench: model, region tiling, registered cards.

Registered through entry points of the `mer_bench.models` group (pyproject.toml); the core never
imports this package by name.

- `model.py`: the architecture (`HTNet`, `HTNetConfig`).
- `regions.py`: the input transform (four facial-region flow windows tiled into 28x28), with the
  window placement as a parameter (`RegionTiling`).
- `cards.py`: the registered configurations `htnet` (paper), `htnet-refcrop` (paper network on
  the reference code's windows), `htnet-small`, `htnet-tiny`.
"""

from mer_bench_htnet.model import HTNet, HTNetConfig, count_parameters
from mer_bench_htnet.regions import PLACEMENTS, RegionTiling, prepare_inputs, tile_regions

__all__ = [
    "HTNet",
    "HTNetConfig",
    "PLACEMENTS",
    "RegionTiling",
    "count_parameters",
    "prepare_inputs",
    "tile_regions",
]
