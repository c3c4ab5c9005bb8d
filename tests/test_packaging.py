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


def test_the_readme_is_a_front_door():
    """At most 8 KB; the two set-up commands CI extracts; the generated reference table's
    markers; and every relative link of the README and docs/ leads to a file."""
    import re

    readme = ROOT / "README.md"
    text = readme.read_text()
    assert len(text.encode()) <= 8 * 1024
    setup = re.search(r"^```bash setup\n(.*?)^```$", text, flags=re.S | re.M)
    assert setup and len(setup.group(1).strip().splitlines()) == 2
    start, end = (
        text.index("<!-- reference-results:start -->"),
        text.index("<!-- reference-results:end -->"),
    )
    assert start < end
    for page in [
        readme,
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "benchmarks" / "results").glob("*.md")),
    ]:
        for link in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if not link.startswith(("http://", "https://", "mailto:")):
                assert (page.parent / link).exists(), f"{page.relative_to(ROOT)}: {link}"
