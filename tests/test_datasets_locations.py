"""Dataset locations: per-dataset option > --data-root/<sub> > environment > TOML config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mer_bench.data.datasets.locations import locate, resolve_dataset_roots
from mer_bench.core.errors import DataError
from mer_bench.data.sources.raw import RawOptions


pytestmark = pytest.mark.usefixtures("no_dataset_env")


def _dirs(root: Path, *names: str) -> Path:
    for n in names:
        (root / n).mkdir(parents=True)
    return root


def test_precedence_option_root_env_config(tmp_path, monkeypatch):
    root = _dirs(tmp_path / "root", "CASME2", "samm")
    env_root = _dirs(tmp_path / "env", "SMIC", "CASME2", "CASME3")
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        'data_root = "../cfgroot"\n[datasets]\nsmic = "/nowhere/smic"\ncasme3 = "c3"\n'
    )
    _dirs(tmp_path / "cfgroot", "CASME3", "SAMM")
    monkeypatch.setenv("MER_BENCH_CONFIG", str(config))
    monkeypatch.setenv("MER_BENCH_DATA_ROOT", str(env_root))
    monkeypatch.setenv("MER_BENCH_SMIC", str(tmp_path / "smic-env"))
    options = RawOptions(data_root=root, dataset_roots={"casme2": tmp_path / "mine"})
    roots = resolve_dataset_roots(options)
    assert roots["casme2"] == tmp_path / "mine"  # per-dataset option, even if absent
    assert roots["samm"] == root / "samm"  # --data-root, case-insensitive
    assert roots["smic"] == tmp_path / "smic-env"  # MER_BENCH_SMIC beats the rest
    assert roots["casme3"] == env_root / "CASME3"  # MER_BENCH_DATA_ROOT beats config
    monkeypatch.delenv("MER_BENCH_DATA_ROOT")
    monkeypatch.delenv("MER_BENCH_SMIC")
    roots = resolve_dataset_roots(RawOptions())
    assert roots == {
        "smic": Path("/nowhere/smic"),
        "casme3": config.parent / "c3",
        "samm": config.parent / "../cfgroot" / "SAMM",
    }
    assert locate("casme3", RawOptions()).origin == str(config)


def test_missing_subfolder_falls_through_and_reports_where_it_looked(tmp_path):
    loc = locate("casme2", RawOptions(data_root=tmp_path))
    assert loc.path is None and loc.origin == "not configured"
    assert loc.looked == (f"{tmp_path / 'CASME2'} (--data-root)",)
    assert resolve_dataset_roots(RawOptions(data_root=tmp_path)) == {}


def test_malformed_config_names_the_file(tmp_path, monkeypatch):
    config = tmp_path / "bad.toml"
    config.write_text("data_root = [1,\n")
    monkeypatch.setenv("MER_BENCH_CONFIG", str(config))
    with pytest.raises(DataError, match="bad.toml: unreadable config file"):
        resolve_dataset_roots(RawOptions())
