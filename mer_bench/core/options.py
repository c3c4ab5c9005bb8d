"""Typed options of every plugin, and the one parser of `--option SCOPE.NAME=VALUE`.

Every plugin kind has a typed options class, a frozen dataclass:
- a plugin that declares `Options` (a dataclass; the sources do) has that one;
- a plugin that is a dataclass itself (a view: its fields are its parameters) is its own;
- any other plugin class (executors, selection policies) has one built from its constructor's
  typed keyword arguments, so the constructor stays the one place an option is declared; a
  class may word each option in `option_help` ({name: help});
- declarations without options (datasets, protocols) have an empty one.

The CLI parses `--option executor.workers=2` generically: the scope names the plugin slot of the
command (`source`, `selection`, `executor`), the name one field of that plugin's options class,
and the text is converted to the field's type (JSON for lists, tuples and mappings). An option
the plugin does not take is a one-line error listing those it takes.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mer_bench.core.errors import UsageError


@dataclass(frozen=True)
class OptionInfo:
    """One option of a plugin, as `mer-bench list KIND --json` and `--help` show it."""

    name: str
    type: str
    default: Any
    help: str = ""

    def line(self) -> str:
        """`name: type = default  help`, for help texts."""
        text = f"{self.name}: {self.type} = {self.default!r}"
        return f"{text}  {self.help}" if self.help else text


@dataclass(frozen=True)
class NoOptions:
    """The options class of a plugin that takes none."""


def options_class(plugin: Any) -> type:
    """The plugin's typed options class (see the module docstring)."""
    declared = getattr(plugin, "Options", None)
    if isinstance(declared, type) and dataclasses.is_dataclass(declared):
        return declared
    if isinstance(plugin, type) and dataclasses.is_dataclass(plugin):
        return plugin
    if isinstance(plugin, type):
        return _from_constructor(plugin)
    return NoOptions


@cache
def _from_constructor(cls: type) -> type:
    import inspect

    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: fall back to Any
        hints = {}
    helps = getattr(cls, "option_help", {}) or {}
    fields = []
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = None if param.default is param.empty else param.default
        fields.append(
            (
                name,
                hints.get(name, Any),
                dataclasses.field(default=default, metadata={"help": helps.get(name, "")}),
            )
        )
    return dataclasses.make_dataclass(f"{cls.__name__}Options", fields, frozen=True)


def type_text(annotation: Any) -> str:
    """A readable name of a field's type: `int`, `int | None`, `Mapping[str, Any]`."""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return (
        str(annotation)
        .replace("typing.", "")
        .replace("collections.abc.", "")
        .replace("pathlib.", "")
    )


def describe(options: type) -> list[OptionInfo]:
    """The fields of an options class, with their types, defaults and help."""
    hints = _hints(options)
    out = []
    for f in dataclasses.fields(options):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if dataclasses.is_dataclass(default):
            default = type(default).__name__
        elif isinstance(default, Path):
            default = str(default)
        helps = getattr(options, "option_help", {}) or {}
        out.append(
            OptionInfo(
                f.name,
                type_text(hints.get(f.name, f.type)),
                default,
                f.metadata.get("help") or helps.get(f.name, ""),
            )
        )
    return out


def _hints(options: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(options)
    except (NameError, TypeError):  # unresolvable annotations: their text is shown as written
        return {}


def parse_assignments(values: list[str], scopes: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`["executor.workers=2", ...]` as {scope: {name: text}}; a value not of that form, or of a
    scope the command has not, is a one-line usage error naming it."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        key, sep, text = value.partition("=")
        scope, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise UsageError(
                f"--option expects SCOPE.NAME=VALUE ({' | '.join(scopes)}), got {value!r}"
            )
        if scope not in scopes:
            raise UsageError(
                f"--option {key}: no scope {scope!r} here (scopes: {', '.join(scopes)})"
            )
        if name in out.get(scope, {}):
            raise UsageError(f"--option {key} given twice")
        out.setdefault(scope, {})[name] = text
    return out


def convert(options: type, values: dict[str, str], where: str) -> dict[str, Any]:
    """Text values of `--option` converted to the types of `options`' fields; `where` names the
    plugin in messages ("--option executor.chunk" for executor 'fold-parallel')."""
    fields = {f.name: f for f in dataclasses.fields(options)}
    hints = _hints(options)
    out = {}
    for name, text in values.items():
        kind = hints.get(name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            raise UsageError(
                f"{where}: option {name} is a {kind.__name__}, which --option cannot "
                "set (it follows from the other options)"
            )
        if name not in fields:
            import difflib

            close = difflib.get_close_matches(name, fields, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            takes = ", ".join(sorted(fields)) or "no options"
            raise UsageError(f"{where} takes no option {name!r} (it takes: {takes}){hint}")
        try:
            out[name] = from_text(text, hints.get(name, fields[name].type))
        except ValueError as exc:
            raise UsageError(f"{where}: option {name}={text!r}: {exc}") from None
    return out


def from_text(text: str, annotation: Any) -> Any:
    """`text` as a value of type `annotation` (bool: true/false/1/0/yes/no; `none` for an
    optional field; JSON for lists, tuples, mappings and anything else)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null", ""):
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return from_text(text, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if annotation is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected an integer") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if annotation is str:
        return text
    if annotation is Path:
        return Path(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if annotation is Any:
            return text
        raise ValueError(f"expected JSON for {type_text(annotation)}") from None
    return tuple(value) if origin is tuple and isinstance(value, list) else value
