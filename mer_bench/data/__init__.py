"""Data: dataset loaders, sources, preprocessing and views, the synthetic demo, and the contract
(`mer_bench.data.contract`) between them and the run layer. Imports only `mer_bench.core`."""
