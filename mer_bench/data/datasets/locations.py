"""Where each dataset lives. Precedence, first match wins (docs/datasets.md):

1. a per-dataset option (`--dataset-root casme2=PATH`, i.e. `RawOptions.dataset_roots`);
2. `--data-root DIR`: its conventional sub-folder `DIR/CASME2`, `DIR/SAMM`, `DIR/SMIC`,
   `DIR/CASME3` (matched case-insensitively), when that folder exists;
3. environment: `MER_BENCH_CASME2` (`_SAMM`, `_SMIC`, `_CASME3`), then `MER_BENCH_DATA_ROOT`'s
   conventional sub-folder;
4. the TOML config file (`$MER_BENCH_CONFIG`, else `$XDG_CONFIG_HOME/mer-bench/config.toml`,
   i.e. `~/.config/mer-bench/config.toml`): `[datasets] casme2 = "..."`, then `data_root`'s
   conventional sub-folder. Relative paths in the file are relative to the file.
Explicit per-dataset settings win even when the folder is missing (doctor then says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_bench.data.datasets import dataset_names, subfolder_name
from mer_bench.core.errors import DataError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: config files need 3.11's tomllib
    tomllib = None  # type: ignore[assignment]

ENV_DATA_ROOT = "MER_BENCH_DATA_ROOT"
ENV_CONFIG = "MER_BENCH_CONFIG"


@dataclass(frozen=True)
class Location:
    """Where a dataset was found (or None), which rule named it, and every place looked at."""

    dataset: str
    path: Path | None
    origin: str
    looked: tuple[str, ...]


def env_var(dataset: str) -> str:
    """`MER_BENCH_CASME2` etc.: the per-dataset environment variable."""
    return f"MER_BENCH_{dataset.upper()}"


def config_path() -> Path:
    """The TOML config file: $MER_BENCH_CONFIG, else $XDG_CONFIG_HOME/mer-bench/config.toml."""
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mer-bench" / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The config file's settings ({} when absent); DataError naming the file when malformed."""
    if not path.is_file():
        return {}
    if tomllib is None:
        raise DataError(f"{path}: reading the config file needs Python 3.11 or newer (tomllib)")
    try:
        with path.open("rb") as fh:
            config = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise DataError(f"{path}: unreadable config file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: the config file is not UTF-8 text (byte {exc.start}: "
            f"{exc.object[exc.start : exc.start + 1]!r})"
        ) from None
    datasets = config.get("datasets", {})
    if not isinstance(datasets, dict) or not isinstance(config.get("data_root", ""), str):
        raise DataError(f'{path}: expected `data_root = "DIR"` and a [datasets] table of paths')
    return config


def subfolder(root: Path, dataset: str) -> Path | None:
    """`root`'s conventional sub-folder for `dataset` (case-insensitive), if it exists."""
    exact = root / subfolder_name(dataset)
    if exact.is_dir():
        return exact
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.lower() == subfolder_name(dataset).lower():
                return child
    return None


def _from_config(value: str, config_file: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_file.parent / path


def locate(dataset: str, options: Any) -> Location:
    """The location of one dataset under the precedence above (`options`: SourceOptions)."""
    looked: list[str] = []
    explicit = (getattr(options, "dataset_roots", None) or {}).get(dataset)
    if explicit is not None:
        return Location(dataset, Path(explicit).expanduser(), f"--{dataset}", (str(explicit),))
    data_root = getattr(options, "data_root", None)
    if data_root is not None:
        looked.append(f"{Path(data_root) / subfolder_name(dataset)} (--data-root)")
        found = subfolder(Path(data_root).expanduser(), dataset)
        if found:
            return Location(dataset, found, "--data-root", tuple(looked))
    if os.environ.get(env_var(dataset)):
        path = Path(os.environ[env_var(dataset)]).expanduser()
        return Location(dataset, path, f"${env_var(dataset)}", tuple(looked + [str(path)]))
    if os.environ.get(ENV_DATA_ROOT):
        env_root = Path(os.environ[ENV_DATA_ROOT]).expanduser()
        looked.append(f"{env_root / subfolder_name(dataset)} (${ENV_DATA_ROOT})")
        found = subfolder(env_root, dataset)
        if found:
            return Location(dataset, found, f"${ENV_DATA_ROOT}", tuple(looked))
    cfg_file = config_path()
    config = read_config(cfg_file)
    value = config.get("datasets", {}).get(dataset)
    if value:
        path = _from_config(str(value), cfg_file)
        return Location(dataset, path, str(cfg_file), tuple(looked + [str(path)]))
    if config.get("data_root"):
        cfg_root = _from_config(config["data_root"], cfg_file)
        looked.append(f"{cfg_root / subfolder_name(dataset)} ({cfg_file})")
        found = subfolder(cfg_root, dataset)
        if found:
            return Location(dataset, found, str(cfg_file), tuple(looked))
    return Location(dataset, None, "not configured", tuple(looked))


def locate_all(options: Any) -> dict[str, Location]:
    """Every dataset's Location, in `dataset_names()` order."""
    return {d: locate(d, options) for d in dataset_names()}


def resolve_dataset_roots(options: Any) -> dict[str, Path]:
    """Dataset name -> root folder, for the datasets that some rule names (see module doc)."""
    return {d: loc.path for d, loc in locate_all(options).items() if loc.path is not None}
