"""Files in the cache that several processes share: locks, atomic folders, checksums.

Two runs started at once on one cache must never see each other's half-written trees. The
rules, used by the demo generator and the preprocessing caches:
- a folder is built under a temporary name beside its target and renamed into place whole
  (`install_folder`), so a reader sees no folder or a complete one, never a growing one;
- its builder holds an exclusive lock (`folder_lock`, `fcntl.flock` on a lock file beside it), so
  one process builds and the others wait, then find it built and reuse it;
- what was built records its checksums, and a reader verifies them before using it
  (`tree_manifest`, `check_manifest`); a damaged copy is rebuilt, with a notice naming it.

Linux (and any POSIX system with flock) is the platform. The lock is released by the kernel
when its holder dies, so a killed builder never blocks the next run.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mer_bench.core.errors import MerBenchError, UsageError

log = logging.getLogger(__name__)

#: Where a cache folder can be chosen: named in the error when it cannot be used.
CACHE_OPTION = "--cache-dir or $MER_BENCH_CACHE"
_CHUNK = 1 << 20


def usable_folder(path: Path, what: str = "cache folder") -> Path:
    """`path` as a folder this process can write in, made if missing; UsageError (exit 2)
    naming it when it is a file, cannot be made, or cannot be written."""
    path = Path(path)
    for place in (path, *path.parents):  # the first that exists must be a folder
        if place.exists() or place.is_symlink():
            if not place.is_dir():
                raise UsageError(
                    f"{what} {place}: is a file, not a folder (choose another with {CACHE_OPTION})"
                )
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        # os.access says yes to root on any folder: only creating a file proves it writable.
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        # Name the folder that refused: the deepest one that exists.
        place = next((p for p in (path, *path.parents) if p.is_dir()), path)
        raise UsageError(
            f"{what} {place}: cannot write in it ({_reason(exc)}; choose another "
            f"with {CACHE_OPTION})"
        ) from None
    return path


def write_failed(path: Path, exc: OSError) -> MerBenchError:
    """The error for a cache write that failed on the way (disk full, folder removed): one line
    naming the file (exit 1); nothing half-written is left in place."""
    return MerBenchError(f"cannot write the cache file {path}: {_reason(exc)}")


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)


def lock_path(target: Path) -> Path:
    """The lock file that guards `target` (a hidden file beside it)."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def folder_lock(target: Path) -> Iterator[None]:
    """Hold the exclusive lock of `target` (waiting for another process that holds it)."""
    path = lock_path(target)
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UsageError(
            f"cache folder {path.parent}: cannot write in it ({_reason(exc)}; "
            f"choose another with {CACHE_OPTION})"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another mer-bench process to finish %s", target)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def temporary_folder(target: Path) -> Path:
    """An empty folder beside `target`, on the same file system, to build it in."""
    target = Path(target)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))


def remove_leftovers(target: Path) -> None:
    """Remove the temporary folders of builders of `target` that died (call with its lock
    held: then no living process is building one)."""
    target = Path(target)
    for pattern in (f".{target.name}.building-*", f".{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def install_folder(built: Path, target: Path) -> None:
    """Put the complete folder `built` at `target` in one rename; a folder already there (a
    damaged copy) is first moved aside, then removed. Call with `target`'s lock held."""
    built, target = Path(built), Path(target)
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, old / "tree")
    os.replace(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_manifest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every file under `root` (but the names in `skip` at its top) as relative path ->
    [size, sha256], sorted: what `check_manifest` verifies later."""
    root = Path(root)
    out: dict[str, list] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in skip:
            out[rel] = [path.stat().st_size, file_sha256(path)]
    return out


def check_manifest(root: Path, manifest: dict[str, list], skip: tuple[str, ...] = ()) -> str | None:
    """None when `root` holds exactly the files of `manifest` with their sizes and checksums;
    else what is wrong, in a few words (the first problem found)."""
    root = Path(root)
    try:
        present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    except OSError as exc:
        return f"unreadable ({_reason(exc)})"
    present -= set(skip)
    missing = sorted(set(manifest) - present)
    if missing:
        return f"{len(missing)} file(s) missing, e.g. {missing[0]}"
    extra = sorted(present - set(manifest))
    if extra:
        return f"{len(extra)} unexpected file(s), e.g. {extra[0]}"
    for rel, (size, digest) in manifest.items():
        path = root / rel
        try:
            if path.stat().st_size != size:
                return f"{rel} has {path.stat().st_size} bytes, expected {size}"
            if file_sha256(path) != digest:
                return f"{rel} does not match its checksum"
        except OSError as exc:
            return f"{rel} unreadable ({_reason(exc)})"
    return None


def build_folder(
    target: Path, verify: Callable[[Path], str | None], build: Callable[[Path], None], what: str
) -> None:
    """Make sure `target` is a folder that `verify` accepts (it returns None, else what is
    wrong). When it is not: under `target`'s lock (another process may be building it: then
    this one waits and finds it built), `build` fills a temporary folder beside it, which is
    renamed into place whole. A folder there that does not verify is named in a warning (one
    line) and replaced."""
    target = Path(target)
    if verify(target) is None:
        return
    usable_folder(target.parent)
    with folder_lock(target):
        problem = verify(target)
        if problem is None:
            return
        remove_leftovers(target)
        if target.exists() or target.is_symlink():
            log.warning(
                "the cached %s %s is incomplete or damaged (%s): generating it again",
                what,
                target,
                problem,
            )
        building = temporary_folder(target)
        try:
            try:
                build(building)
            except OSError as exc:
                raise write_failed(Path(exc.filename or building), exc) from None
            install_folder(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)  # gone unless building failed
    problem = verify(target)
    if problem is not None:  # built and checked under the lock: the file system failed us
        raise MerBenchError(f"the {what} built into {target} does not verify ({problem})")


def write_marker(folder: Path, name: str, meta: dict[str, Any]) -> None:
    """Write `meta` and every file's size and sha256 (its "files") as `folder`/`name`, last."""
    files = tree_manifest(folder, skip=(name,))
    (Path(folder) / name).write_text(json.dumps({**meta, "files": files}, indent=1))


def read_marker(folder: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the marker, None), or (None, why it cannot be used)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, ("absent" if not (folder.exists() or folder.is_symlink()) else "not a folder")
    try:
        meta = json.loads((folder / name).read_text())
    except FileNotFoundError:
        return None, f"no {name}: an interrupted generation"
    except (OSError, ValueError) as exc:
        return None, f"unreadable {name} ({exc})"
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return None, f"{name} lists no checksums (written by an earlier mer-bench)"
    return meta, None


def check_marker(folder: Path, name: str, expect: dict[str, Any]) -> str | None:
    """None when `folder`'s marker has the values of `expect` and the folder holds exactly
    its files, with their sizes and checksums; else what is wrong."""
    meta, problem = read_marker(folder, name)
    if meta is None:
        return problem
    differ = sorted(k for k, v in expect.items() if meta.get(k) != v)
    if differ:
        return f"{name} describes another {differ[0]}"
    return check_manifest(folder, meta["files"], skip=(name,))
