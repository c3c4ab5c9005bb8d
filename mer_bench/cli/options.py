"""Option handling shared by the verbs: dataset roots, per-source values, opening the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mer_bench.core.errors import DataError, MerBenchError, UsageError
from mer_bench.core.paths import default_store_path
from mer_bench.core.registry import EXECUTORS, POLICIES, SOURCES

if TYPE_CHECKING:
    from mer_bench.core.registry import Registry
    from mer_bench.results.store import Store

# The flags that describe where a source's data comes from, declared once for every verb that
# reads a source (run, train, prepare, score), so that each says the same thing.
DataRootOption = Annotated[
    Path | None, typer.Option("--data-root", help="flows/raw: folder of the source's data.")
]
DatasetRootOption = Annotated[
    list[str],
    typer.Option(
        "--dataset-root", metavar="NAME=DIR", help="raw: NAME=DIR for one dataset (repeatable)."
    ),
]
FacesOption = Annotated[
    Path | None,
    typer.Option(
        "--faces",
        help="flows: folder of one aligned face image per sample (HTNet's "
        "combined_datasets_whole), for HTNet's region points.",
    ),
]
FacePointsOption = Annotated[
    str | None,
    typer.Option(
        "--face-points",
        help="flows: how region points are found on the faces: dlib (default) | "
        "mtcnn (HTNet's reference call; needs facenet-pytorch).",
    ),
]
FlowOption = Annotated[
    str | None,
    typer.Option("--flow", help="raw/demo: optical flow, tvl1 (default) | farneback | dis."),
]
DemoDifficultyOption = Annotated[
    str | None, typer.Option("--demo-difficulty", help="demo: easy | standard (default) | hard.")
]
DemoSubjectsOption = Annotated[
    int | None,
    typer.Option("--demo-subjects", help="demo: number of synthetic subjects (default 12)."),
]
CacheDirOption = Annotated[
    Path | None, typer.Option("--cache-dir", help="Demo data and preprocessed arrays.")
]

PluginOptionOption = Annotated[
    list[str],
    typer.Option(
        "--option",
        "-o",
        metavar="SCOPE.NAME=VALUE",
        help="An option of the chosen source, selection policy or executor, e.g. "
        "executor.workers=2, selection.inner_folds=3, source.flow_method=dis (repeatable; "
        "--help-options and `mer-bench list KIND` show each plugin's options). The flags "
        "above are spellings of the common ones.",
    ),
]

#: The plugin slots `--option` can name, with their registries.
SCOPES: dict[str, Registry] = {"source": SOURCES, "selection": POLICIES, "executor": EXECUTORS}

#: CLI flag of each source option, for messages.
FLAGS = {
    "data_root": "--data-root",
    "faces": "--faces",
    "face_points": "--face-points",
    "dataset_roots": "--dataset-root",
    "flow_method": "--flow",
    "difficulty": "--demo-difficulty",
    "subjects": "--demo-subjects",
    "cache_dir": "--cache-dir",
    "workers": "--workers",
    "apex_jitter": "--apex-jitter",
    "jitter_seed": "--jitter-seed",
}


def parse_dataset_roots(values: list[str]) -> dict[str, Path]:
    """`--dataset-root NAME=DIR` values as {name: folder}."""
    roots = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise DataError(f"--dataset-root expects NAME=DIR, got {value!r}")
        roots[name.strip()] = Path(folder)
    return roots


def plugin_options(values: list[str], **chosen: str) -> dict[str, dict[str, Any]]:
    """`--option SCOPE.NAME=VALUE` values as {scope: {name: typed value}} for the plugins chosen
    (`source="demo", selection="fixed", ...`), each converted by that plugin's options class."""
    from mer_bench.core.options import convert, options_class, parse_assignments

    out: dict[str, dict[str, Any]] = {}
    for scope, texts in parse_assignments(values, tuple(chosen)).items():
        registry, name = SCOPES[scope], chosen[scope]
        out[scope] = convert(
            options_class(registry.get(name)),
            texts,
            f"--option {scope}.* ({registry.kind} '{name}')",
        )
    return out


def merge_flags(
    scope: str, flags: dict[str, Any], options: dict[str, Any], spellings: dict[str, str]
) -> dict[str, Any]:
    """The flags' values with the `--option` values of `scope` on top; a flag and an option that
    set one field to different values is a usage error naming both."""
    merged = {k: v for k, v in flags.items() if v is not None}
    for name, value in options.items():
        if name in merged and merged[name] != value:
            flag = spellings.get(name, name)
            raise UsageError(f"{flag} {merged[name]} and --option {scope}.{name}={value} disagree")
        merged[name] = value
    return merged


def plugin_help(scopes: dict[str, Registry]) -> str:
    """Every option of every plugin of each scope, one paragraph per plugin (for `--help`)."""
    from mer_bench.core.options import describe, options_class

    lines = ["Plugin options (--option SCOPE.NAME=VALUE):"]
    for scope, registry in scopes.items():
        for name, plugin in registry.items():
            infos = describe(options_class(plugin))
            shown = "; ".join(
                f"{i.name} ({i.type}, default {i.default!r})" for i in infos if i.name != "progress"
            )
            lines.append(f"{scope}.* of {name}: {shown or 'none'}")
    return "\n\n".join(lines)


def print_plugin_options(value: bool) -> None:
    """`--help-options`: every plugin's options, then exit. Separate from `--help`, which stays
    quick: listing options imports every plugin (torch among them)."""
    if value:
        typer.echo(plugin_help(SCOPES))
        raise typer.Exit(0)


def source_values(source: str, **values: Any) -> dict[str, Any]:
    """The values given on the command line that `source` takes; a flag given for a source that
    does not take it is a one-line error naming the flag."""
    known = {f.name for f in dataclasses.fields(SOURCES.get(source).Options)}
    given = {k: v for k, v in values.items() if v is not None and v != {}}
    stray = sorted(
        k for k in given if k not in known and k not in ("progress", "workers", "cache_dir")
    )
    if stray:
        flags = ", ".join(FLAGS.get(k, k) for k in stray)
        raise UsageError(f"{flags} does not apply to --source {source}")
    return {k: v for k, v in given.items() if k in known}


def require_known(*pairs: tuple[Registry, str | None]) -> None:
    """Exit 2 with the closest names for the first unknown name of (registry, name) pairs; run
    before any plugin (or torch) is imported, and before any data is touched."""
    for names, name in pairs:
        if name is not None and name not in names:
            names.get(name)


def build_source_options(
    source: str,
    *,
    quiet: bool,
    data_root: Path | None = None,
    faces: Path | None = None,
    face_points: str | None = None,
    dataset_root: list[str] | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    flow: str | None = None,
    demo_difficulty: str | None = None,
    demo_subjects: int | None = None,
    options: dict[str, Any] | None = None,
    apex_jitter: int | None = None,
    jitter_seed: int | None = None,
) -> Any:
    """The typed options of `source` from the command line's source flags, with its `--option
    source.NAME=VALUE` values (`options`, already typed) on top."""
    from mer_bench.data.sources import source_options

    values = source_values(
        source,
        data_root=data_root,
        faces=faces,
        face_points=face_points,
        dataset_roots=parse_dataset_roots(dataset_root or []),
        cache_dir=cache_dir,
        workers=workers,
        progress=not quiet,
        flow_method=flow,
        difficulty=demo_difficulty,
        subjects=demo_subjects,
        apex_jitter=apex_jitter or None,
        jitter_seed=jitter_seed,
    )
    return source_options(source, **merge_flags("source", values, options or {}, FLAGS))


def open_store(location: str | Path | None, read_only: bool = False) -> Store:
    """The results database at `location` (a path or a database URL), else the default. A new
    SQLite file is made at the command's first write: a command that fails before leaves none."""
    from mer_bench.results.store import Store

    return Store(location or default_store_path(), read_only=read_only, lazy=not read_only)


#: Help of every `--store` option (one text, so that every command says the same).
STORE_HELP = (
    "Results database: a file or a database URL (default: $MER_BENCH_STORE, else "
    "~/.local/share/mer-bench/results.sqlite)."
)


def write_output(path: Path, text: str, flag: str) -> None:
    """Write a command's output file whole or not at all: a regular file (or a new one) through
    a temporary file renamed into place, so a full disk leaves the old file (or none); anything
    else (/dev/stdout, a pipe, a device) written directly. One line naming `flag` and the file
    when the system refuses."""
    import os
    import tempfile

    temp = None
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8") as fh:
                fh.write(text)
            return
        fd, temp = tempfile.mkstemp(
            prefix=f".{path.name[:100]}.", suffix=".partial", dir=path.parent
        )
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        raise MerBenchError(
            f"{flag} {path}: cannot write it ({exc.strerror or exc}); nothing was written there"
        ) from None
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)


def check_output_file(path: Path, flag: str) -> Path:
    """`path` if a file can be written there: its folder exists and it is not a folder itself."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: no such folder {path.parent}")
    return path
