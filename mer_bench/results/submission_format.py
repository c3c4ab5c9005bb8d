"""The submission file format, written once: a pydantic model that `export` fills and `import`
reads (like MTEB's `TaskResult`).

A submission (format "mer-bench-submission", version 2; version 1 files of mer-bench 0.1.0 are
read too) holds the run's fields, its card, recipe and provenance as their own sections, each
fold's header, and each held-out sample's prediction. Scores are never part of it: whoever reads
it recomputes them. The model checks the shape and types (strict: a string is not a number, a
boolean is not an integer), bounds every integer to what a database column holds, refuses NaN
and infinities; `read_submission_text` refuses what JSON itself lets through (NaN literals,
numbers too large for a float, lone surrogates, nesting deeper than a submission has). Errors
name the field as `predictions[3].pred`. What only the protocol can say (class indices, samples,
labels, folds) is checked by `mer_bench.results.submission`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mer_bench.core.errors import DataError

SUBMISSION_FORMAT = "mer-bench-submission"
SUBMISSION_VERSION = 2
#: Submission versions this mer-bench reads.
READABLE_VERSIONS = (1, SUBMISSION_VERSION)
MAX_ID_LENGTH = 200
#: Deepest nesting of a valid submission is about 6 (a fold's selection scores); far beyond is
#: an attack on the parser, refused before any object is built.
MAX_DEPTH = 64
INT64 = 2**63

Int64 = Annotated[int, Field(strict=True, ge=-INT64, le=INT64 - 1)]
Count = Annotated[int, Field(strict=True, ge=0, le=INT64 - 1)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_ID_LENGTH)]
Text = Annotated[str, Field(strict=True, max_length=10_000)]
Seconds = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunSection(_Section):
    """The run's fields (`RunRecord` without its card, recipe and provenance, and without what
    describes the machine it ran on). Unknown fields (a stated score) are ignored."""

    run_id: Name
    kind: Text | None = None
    experiment_id: Text | None = None
    model: Name
    protocol: Name
    source: Name
    view: Text | None = None
    selection: Name
    seed: Count
    identity: dict[str, Any] | None = None  # version 2: required (checked by the importer)
    config_hash: Name
    group_hash: Text | None = None
    classes: list[Name]
    mer_bench_version: Text | None = None
    git_commit: Text | None = None
    torch_version: Text | None = None
    device_name: Text | None = None
    executor: Text | None = None
    n_folds: Count
    started_at: Text | None = None
    finished_at: Text | None = None
    status: Text | None = None
    estimated_seconds: Seconds | None = None
    wall_seconds: Seconds | None = None


class CardSection(BaseModel):
    """The model card as the run recorded it (`ModelCard` as a dict); other card fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name
    framework: Name = "torch"
    view: Text | None = None
    num_params: Count | None = None


class FoldHeader(_Section):
    """One fold: what it trained on, its seed and time, and what the policy chose."""

    fold_index: Count
    fold_key: Annotated[str, Field(strict=True, max_length=MAX_ID_LENGTH)]
    seed: Count
    n_train: Count
    n_test: Count
    epochs_trained: Count
    selected_epoch: Count | None = None
    seconds: Seconds
    selection: dict[str, Any] | None = None
    finished_at: Text | None = None
    artifact: Text | None = None


class Prediction(BaseModel):
    """One held-out sample: its ids, fold, label, the prediction scored and its probabilities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Name
    subject: Name
    sample: Name
    label: Int64
    pred: Int64
    probs: Annotated[list[Probability], Field(max_length=100)]
    fold: Int64


class SubmissionFile(BaseModel):
    """A whole submission file. Top-level fields it does not know are ignored (and listed)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format: Literal["mer-bench-submission"] = SUBMISSION_FORMAT
    version: Literal[1, 2] = SUBMISSION_VERSION
    run: RunSection
    card: CardSection
    recipe: dict[str, Any]
    provenance: dict[str, Any]
    folds: list[FoldHeader]
    predictions: list[Prediction]

    @property
    def ignored(self) -> tuple[str, ...]:
        """Top-level fields this format does not have (stated scores, notes), never read."""
        return tuple(sorted(self.model_extra or {}))

    def as_json(self) -> dict[str, Any]:
        """The file's JSON object (what `export` writes)."""
        return self.model_dump(mode="json", exclude_none=False)


SECTIONS = ("run", "card", "recipe", "provenance", "folds", "predictions")


def field_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a reader writes it: ('predictions', 3, 'pred') ->
    'predictions[3].pred'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_submission(data: Any, where: str) -> SubmissionFile:
    """The validated submission of a parsed JSON document; DataError (exit code 3) naming the
    first bad field otherwise."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: a submission is a JSON object, got {type(data).__name__}")
    if data.get("format") != SUBMISSION_FORMAT:
        raise DataError(
            f"{where}: format is {_short(data.get('format'))}, expected {SUBMISSION_FORMAT!r}"
        )
    if data.get("version") not in READABLE_VERSIONS or isinstance(data.get("version"), bool):
        raise DataError(
            f"{where}: version {_short(data.get('version'))} is not supported (this "
            f"mer-bench reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    for key in SECTIONS:
        kind = list if key in ("folds", "predictions") else dict
        if not isinstance(data.get(key), kind):
            raise DataError(
                f"{where}: section '{key}' is missing or not a JSON "
                f"{'array' if kind is list else 'object'}"
            )
    try:
        return SubmissionFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        value = "" if error["type"] == "missing" else f" (got {_short(error.get('input'))})"
        raise DataError(f"{where}: {field_path(error['loc'])}: {error['msg']}{value}") from None


def read_submission_text(text: str, where: str) -> Any:
    """The JSON document in `text`, refusing NaN and Infinity literals, numbers beyond a float,
    integers beyond 64 bits' digits, lone surrogates (in keys and values) and deep nesting, each
    with one line naming where."""

    def constant(name: str) -> Any:
        raise _Refused(f"{name} is not a number a submission may hold")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise _Refused(f"number {text[:40]} is too large for a float")
        return value

    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise DataError(
            f"{where}: JSON nested more than {MAX_DEPTH} levels deep (a submission needs far fewer)"
        )
    try:
        data = json.loads(text, parse_constant=constant, parse_float=number)
    except _Refused as exc:
        raise DataError(f"{where}: not valid JSON for a submission: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise DataError(
            f"{where}: not valid JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits
        raise DataError(f"{where}: not valid JSON for a submission: {str(exc)[:120]}") from None
    bad = _lone_surrogate(data)
    if bad is not None:
        raise DataError(
            f"{where}: {bad or 'the document'}: text with a lone surrogate (not Unicode text)"
        )
    return data


class _Refused(ValueError):
    pass


def _max_depth(text: str) -> int:
    """How deep brackets nest in `text` (outside strings), without building anything."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _lone_surrogate(data: Any) -> str | None:
    """The path of the first string (key or value) holding a lone surrogate, or None."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if _has_surrogate(key):
                    return path or "a key"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
