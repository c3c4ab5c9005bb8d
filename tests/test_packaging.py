"""Facts about the project written once: the version lives in the package and pyproject reads it."""

from __future__ import annotations

import importlib.metadata
import pytest
from pathlib import Path

import mer_bench

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    source = project["tool"]["setuptools"]["dynamic"]["version"]
    assert source == {"attr": "mer_bench.__version__"}
    assert importlib.metadata.version("mer-bench") == mer_bench.__version__
