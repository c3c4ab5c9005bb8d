"""HTNet (Wang et al., Neurocomputing 2024) for mer-bench: model, region tiling, registered cards.

Registered through entry points of the `mer_bench.models` group (pyproject.toml); the core never
imports this package by name.

- `model.py`: the architecture (`HTNet`, `HTNetConfig`).
- `regions.py`: the input transform (four facial-region flow windows tiled into 28x28).
- `cards.py`: the registered configurations `htnet` (paper), `htnet-small`, `htnet-tiny`.
"""

from mer_bench_htnet.model import HTNet, HTNetConfig, count_parameters
from mer_bench_htnet.regions import prepare_inputs, tile_regions

__all__ = ["HTNet", "HTNetConfig", "count_parameters", "prepare_inputs", "tile_regions"]
