"""Cards: the frozen metadata every registered model and protocol carries.

A card is validated when it is created, so a plugin with a bad card fails at discovery time
(and is listed as broken) instead of half-way through a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

from mer_bench.core.errors import MerBenchError

FRAMEWORKS = ("torch", "estimator")
OPTIMIZERS = ("adam", "adamw", "sgd", "none")
#: torch's implementations of one optimiser: "default" (its per-tensor loop on the CPU),
#: "foreach" (multi-tensor) and "fused" (one kernel; on the CPU about 4.5x faster for HTNet's
#: Adam, equal to the loop up to float rounding, so it is part of the recipe).
OPTIMIZER_IMPLEMENTATIONS = ("default", "foreach", "fused")


def stable_hash(obj: Any) -> str:
    """Short hash of a JSON-serialisable object (dataclasses allowed), stable across runs."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The loss every recipe trains with unless it declares another (`mer_bench.losses`).
DEFAULT_LOSS = "cross-entropy"


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


@dataclass(frozen=True)
class Augment:
    """One train-time augmentation of a recipe: a name registered under `mer_bench.augmentations`
    and its options (keyword arguments of that augmentation's constructor)."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, value: Any) -> Augment:
        """An Augment from its spellings: `"hflip"`, `{"name": "shift", "options": {...}}`,
        `("shift", {"max_pixels": 1})`, or an Augment."""
        if isinstance(value, Augment):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            return cls(str(value["name"]), _hashable(dict(value.get("options") or {})))
        name, options = value
        return cls(str(name), _hashable(dict(options)))

    def kwargs(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.kwargs()}


@dataclass(frozen=True)
class Recipe:
    """A training recipe: what the one trainer needs to train a torch model on a fold.

    `epochs` is the pre-declared epoch count (the `fixed` policy trains exactly this many; the
    other honest policies treat it as the maximum they choose from). The optimiser's own
    parameters live here too, so every trainer builds the same optimiser: `betas` and `eps` for
    Adam / AdamW, `momentum` for SGD (torch's defaults, and mer-bench's SGD momentum 0.9), and
    which of torch's implementations runs it (`optimizer_impl`).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 50
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9
    optimizer_impl: str = "default"
    #: The training loss, by its registered name (`mer_bench.losses`: cross-entropy,
    #: class-weighted-cross-entropy, focal, or a plugin's).
    loss: str = DEFAULT_LOSS
    #: Train-time augmentations, applied in order to every training batch (never to the rows
    #: monitored, recorded or predicted).
    augment: tuple[Augment, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment", tuple(Augment.of(a) for a in self.augment))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer_impl not in OPTIMIZER_IMPLEMENTATIONS:
            raise ValueError(
                f"optimizer_impl must be one of {OPTIMIZER_IMPLEMENTATIONS}, got "
                f"{self.optimizer_impl!r}"
            )
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = [
            name
            for name, bad in (
                ("lr", not self.lr >= 0),
                ("batch_size", not self.batch_size >= 1),
                ("epochs", not self.epochs >= 0),
                ("weight_decay", not self.weight_decay >= 0),
                ("betas", len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas)),
                ("eps", not self.eps > 0),
                ("momentum", not 0 <= self.momentum < 1),
            )
            if bad
        ]
        if problems:
            raise ValueError(f"recipe values out of range ({', '.join(problems)}): {self}")

    def override(self, **changes: Any) -> Recipe:
        """A copy with the non-None `changes` applied (CLI flags left unset change nothing)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """The stored form (and the run identity's recipe). The loss and the augmentations are
        written only when they differ from the defaults, so runs made before they existed keep
        their identity."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("loss", "augment")
        }
        out["betas"] = list(self.betas)
        if self.loss != DEFAULT_LOSS:
            out["loss"] = self.loss
        if self.augment:
            out["augment"] = [a.as_dict() for a in self.augment]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """A recipe from its stored form; fields missing from older records take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "betas" else v) for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ModelCard:
    """What a reader needs to know about a registered model, and what the leaderboard shows."""

    name: str
    description: str
    reference: str
    year: int
    num_params: int
    recipe: Recipe
    view: str = "flow28"
    view_params: dict[str, Any] = field(default_factory=dict)
    framework: str = "torch"
    notes: str = ""
    published: dict[str, str] = field(default_factory=dict)
    #: The name `view` had in mer-bench 0.1 (kept so that older plugins load).
    input_kind: InitVar[str | None] = None

    def __post_init__(self, input_kind: str | None = None) -> None:
        if input_kind is not None:
            object.__setattr__(self, "view", input_kind)
        _check_identity(self.name, self.description)
        try:
            self.view_config()
        except (ValueError, MerBenchError) as exc:
            raise ValueError(
                f"card {self.name}: view {self.view!r} {dict(self.view_params)}: {exc}"
            ) from exc
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"card {self.name}: framework must be one of {FRAMEWORKS}")
        if not isinstance(self.num_params, int) or self.num_params < 0:
            raise ValueError(f"card {self.name}: num_params must be a non-negative int")
        if not isinstance(self.recipe, Recipe):
            raise ValueError(f"card {self.name}: recipe must be a Recipe")
        if not (1900 < self.year < 2100):
            raise ValueError(f"card {self.name}: year {self.year} out of range")

    def __hash__(self) -> int:  # dict field: hash on the name, cards are unique per name
        return hash(self.name)

    def view_config(self) -> Any:
        """The view this model consumes, as a configuration (`mer_bench.data.preprocess.views`)."""
        from mer_bench.core.registry import VIEWS

        try:
            return VIEWS.get(self.view)(**dict(self.view_params))
        except TypeError as exc:
            raise ValueError(f"view {self.view!r}: {exc}") from exc


@dataclass(frozen=True)
class ProtocolCard:
    """Metadata of an evaluation protocol: class names (index = label), datasets, split rule."""

    name: str
    description: str
    reference: str
    year: int
    classes: tuple[str, ...]
    datasets: tuple[str, ...]
    sources: tuple[str, ...]
    split: str = "loso"
    notes: str = ""
    #: "emotion": one class per sample (`classes` are the classes); "au": multi-label action
    #: units (`classes` are `AU<n>` names, labels are bit masks: `mer_bench.core.au_labels`).
    task: str = "emotion"
    #: mer-bench 0.1 declared an input kind on protocols; views belong to models and sources.
    input_kind: InitVar[str | None] = None

    def __post_init__(self, input_kind: str | None = None) -> None:
        _check_identity(self.name, self.description)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"card {self.name}: needs at least two distinct classes")
        if self.task not in ("emotion", "au"):
            raise ValueError(f"card {self.name}: unknown task {self.task!r}")
        if self.split not in ("loso", "hold-out-database"):
            raise ValueError(f"card {self.name}: unknown split rule {self.split!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its card, a builder, and the model's own input transform.

    `build(num_classes)` returns a fresh `torch.nn.Module` (framework "torch") or an object with
    `fit(x, y, seed)` and `predict_proba(x)` (framework "estimator").
    `prepare_inputs(arrays)` turns the protocol's arrays (see `mer_bench.data.contract.InputArrays`) into
    the float32 array the model consumes; it runs once per run, not per batch.
    """

    card: ModelCard
    build: Callable[[int], Any]
    prepare_inputs: Callable[[Any], Any] | None = None

    #: A model's typed options are its recipe's fields (the card's values by default; `run`
    #: overrides the common ones with --epochs, --lr, --batch-size).
    Options: ClassVar[type] = Recipe

    def __post_init__(self) -> None:
        if not isinstance(self.card, ModelCard):
            raise ValueError("ModelSpec.card must be a ModelCard")
        if not callable(self.build):
            raise ValueError(f"model {self.card.name}: build must be callable")


@dataclass(frozen=True)
class ProtocolSpec:
    """A registered protocol: its card and its `mer_bench.core.protocol.SampleRules` (which samples,
    with which labels; applied to a source by `mer_bench.data.resolve`)."""

    card: ProtocolCard
    protocol: Any

    def __post_init__(self) -> None:
        from mer_bench.core.protocol import SampleRules

        if not isinstance(self.card, ProtocolCard):
            raise ValueError("ProtocolSpec.card must be a ProtocolCard")
        if not isinstance(self.protocol, SampleRules):
            raise ValueError(
                f"protocol {self.card.name}: ProtocolSpec.protocol must be a SampleRules"
            )
        unknown = sorted(
            {c for rules in self.protocol.rules.values() for c in rules.values()}
            - set(self.card.classes)
        )
        if unknown:
            raise ValueError(f"protocol {self.card.name}: rules map to unknown classes {unknown}")


def _check_identity(name: str, description: str) -> None:
    """Checks every card shares: a registry name and a one-line description."""
    _check_name(name)
    if not description or "\n" in description:
        raise ValueError(f"card {name}: description must be one non-empty line")


def _check_name(name: str) -> None:
    ok = name and name == name.lower() and all(c.isalnum() or c in "-_." for c in name)
    if not ok:
        raise ValueError(
            f"registry name {name!r} must be lowercase letters, digits, '-', '_' or '.'"
        )
