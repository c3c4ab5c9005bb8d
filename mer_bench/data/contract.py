"""The data contract between sources, protocols and the engine.

Data flows one way: a *source* (real files, a folder of flow PNGs, the synthetic demo) gives
per-dataset sample tables and per-sample arrays; a *protocol* (`mer_bench.core.protocol`) declares
which samples with which labels; `mer_bench.data.resolve` joins the two; the engine splits them into
folds. Nothing here knows a dataset or a model by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mer_bench.core.errors import DataError
from mer_bench.core.protocol import SAMPLE_COLUMNS
from mer_bench.core.keys import sample_key

#: Columns of a dataset loader's table (one row per annotated micro-expression).
DATASET_COLUMNS = (
    "dataset",
    "subject",
    "sample",
    "onset",
    "apex",
    "offset",
    "emotion",
    "action_units",
    "frames",
)

#: The five facial points of `flow28`, in order, as (x, y) in 28x28 pixel coordinates.
POINT_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")

#: Channels of a `flow28` array, in index order. This is the layout of the flow PNGs that the
#: STSTNet and HTNet repositories ship, as their training code (and every OpenCV user) reads them:
#: the PNGs store u, v and strain as R, G and B; `cv2.imread` returns B, G, R, so index 0 is the
#: strain, 1 the vertical flow v and 2 the horizontal flow u. Every source (the `flows` folder,
#: the `raw` pipeline, the demo) gives this layout, and models pick channels by these names.
FLOW28_CHANNELS = ("strain", "v", "u")
CHANNEL_STRAIN, CHANNEL_V, CHANNEL_U = (FLOW28_CHANNELS.index(c) for c in ("strain", "v", "u"))

#: HTNet reference fallback points (x, y) at 28x28, used when no landmarks are known.
FALLBACK_POINTS = np.array(
    [[9.53, 11.06], [21.40, 10.92], [15.38, 17.38], [10.26, 22.12], [20.58, 22.26]],
    dtype=np.float32,
)


@dataclass
class ViewArrays:
    """One view of N samples, aligned with a sample table's rows: the one array container.

    data: (N, ...) the view's main array; memory-mapped when assembled from the cache
        (`mer_bench.data.preprocess.view_store`): `data[index]` (or `take`) loads just those rows.
    extras: small per-sample arrays, also read as attributes (flow28: `arrays.points`,
        `arrays.points_fallback`; landmarks: `arrays.fallback`); `data` is also read by its
        view's `data_name` (flow28: `arrays.flow`).
    samples, fallbacks, notes: per row, the sample key, its face fallback ("" when the face was
        found) and the bad-input notes of the view's rules ("code: detail"); empty when the
        arrays were not made by the pipeline.
    """

    label: str
    view: Any
    data: np.ndarray
    extras: dict[str, np.ndarray]
    samples: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    notes: list[tuple[str, ...]] = field(default_factory=list)
    folder: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def in_memory(cls, view: Any, data: np.ndarray, extras: dict[str, np.ndarray]) -> ViewArrays:
        """Arrays of `view` held in memory (a source that reads them whole, tests, examples)."""
        return cls(view.name, view, data, dict(extras))

    def __getattr__(self, name: str) -> np.ndarray:
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        if name == getattr(self.__dict__.get("view"), "data_name", None):
            return self.__dict__["data"]
        raise AttributeError(
            f"{type(self).__name__} of view {self.__dict__.get('label')!r} has no {name!r}"
        )

    def __len__(self) -> int:
        return len(self.data)

    @property
    def nbytes(self) -> int:
        """Bytes of `data` (what loading it whole would take)."""
        return int(self.data.nbytes)

    def take(self, index: np.ndarray | Sequence[int] | slice) -> dict[str, np.ndarray]:
        """The rows at `index` in memory: {"data": ..., **extras}. Only those rows are read."""
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        extras = {k: np.asarray(v[rows]) for k, v in self.extras.items()}
        if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return {"data": np.array(self.data[rows[0] : rows[0] + len(rows)]), **extras}
        order = np.argsort(rows, kind="stable")  # read the file forwards, then restore the order
        data = np.empty((len(rows), *self.data.shape[1:]), dtype=self.data.dtype)
        data[order] = self.data[rows[order]]
        return {"data": data, **extras}

    def batches(
        self, batch_size: int, index: Sequence[int] | np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(row indices, rows) for consecutive batches of `index` (default: every row)."""
        rows = np.arange(len(self)) if index is None else np.asarray(index)
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            yield part, self.take(part)


class InputArrays(ViewArrays):
    """The `flow28` view's arrays built from their three parts (a source that reads flow images,
    tests): a `ViewArrays` with extras points and points_fallback.

    flow: float32 (N, 3, 28, 28): channels FLOW28_CHANNELS (strain, v, u: the reference PNGs as
        `cv2.imread` reads them), on the 0-255 scale of those images (what HTNet feeds its network).
    points: float32 (N, 5, 2): POINT_NAMES as (x, y) in 28x28 coordinates. "Left" is the side
        on the left of the image.
    points_fallback: bool (N,): True where the points are FALLBACK_POINTS, not measured.
    """

    def __init__(self, flow: np.ndarray, points: np.ndarray, points_fallback: np.ndarray) -> None:
        n = len(flow)
        if flow.shape[1:] != (3, 28, 28):
            raise ValueError(f"flow28 arrays must be (N, 3, 28, 28), got {flow.shape}")
        if points.shape != (n, 5, 2) or points_fallback.shape != (n,):
            raise ValueError("points must be (N, 5, 2) and points_fallback (N,)")
        super().__init__(
            "flow28",
            None,
            flow.astype(np.float32, copy=False),
            {
                "points": points.astype(np.float32, copy=False),
                "points_fallback": points_fallback.astype(bool, copy=False),
            },
        )

    @property
    def flow(self) -> np.ndarray:
        """The flow (`data`)."""
        return self.data


class Source(ABC):
    """Where a protocol's data comes from (`--source`). Subclasses declare what they can give."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: "real": the datasets' own sample ids (a protocol's explicit sample list applies);
    #: "generated": synthetic ids (protocols build their sample list with their rules).
    sample_ids: ClassVar[str] = "real"
    #: Whether `dataset_table` works; False for flow-image folders (explicit lists only).
    has_tables: ClassVar[bool] = True
    #: The views it can give (`mer_bench.core.registry.VIEWS` names); None: every registered view.
    views: ClassVar[tuple[str, ...] | None] = None
    #: The typed options this source takes (a `mer_bench.data.sources.options.SourceOptions`).
    Options: ClassVar[type]

    @abstractmethod
    def dataset_table(self, dataset: str) -> pd.DataFrame:
        """The loader table (DATASET_COLUMNS) of one dataset ("casme2", "samm", "smic", ...)."""

    @abstractmethod
    def arrays(self, samples: pd.DataFrame, view: Any = None) -> Any:
        """The `ViewArrays` of the rows of a protocol sample table, in its order, in the view
        asked for (a `mer_bench.data.preprocess.views.ViewConfig`; None: the default view)."""

    def data_identity(self) -> dict[str, Any] | None:
        """What the data read by the last `arrays` call is, by content, for the run's identity;
        None: the source's identity options say it (`sources.options.identity_of`)."""
        return None

    @classmethod
    def planned_tables(cls, data: Mapping[str, Any]) -> dict[str, pd.DataFrame] | None:
        """For a source that generates its samples: the loader tables (subject, sample and the
        annotation columns, canonical spellings) it gives under the identity options `data`,
        computed without generating anything, so that a stored or imported run's labels can be
        checked against what the source makes. None: this source cannot say (real data)."""
        return None

    def has_dataset(self, dataset: str) -> bool:
        """Whether this source can give `dataset`'s table (cross-dataset AU protocols run over the
        datasets a source has)."""
        return True

    @classmethod
    def can_give(cls, view: Any) -> bool:
        """Whether this source can give `view` (a view configuration): by default, whether its
        name is in `views`. A source that depends on what the view can do asks the view."""
        return cls.views is None or view.name in cls.views

    def provenance(self) -> dict[str, Any]:
        """What the run should record about where its inputs came from."""
        return {"source": self.name}


@dataclass
class ProtocolData:
    """A protocol resolved against a source: what the engine trains and predicts on."""

    samples: pd.DataFrame
    arrays: ViewArrays  # the view's arrays (memory-mapped when made by the pipeline)
    classes: tuple[str, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The source's `data_identity()` for these arrays (None: its identity options say it).
    data_identity: dict[str, Any] | None = None
    #: The card's task: "emotion" (label = class index) or "au" (label = bit mask over the AUs
    #: named by `classes`, `mer_bench.core.au_labels`).
    task: str = "emotion"

    def __post_init__(self) -> None:
        missing = [c for c in SAMPLE_COLUMNS if c not in self.samples.columns]
        if missing:
            raise DataError(f"sample table lacks columns {missing}")
        if len(self.samples) != len(self.arrays):
            raise DataError(f"{len(self.samples)} samples but {len(self.arrays)} input arrays")
        self.samples = self.samples.reset_index(drop=True)
        top = len(self.classes) - 1 if self.task == "emotion" else 2 ** len(self.classes) - 1
        bad = ~self.samples["label"].between(0, top)
        if bad.any():
            row = self.samples[bad].iloc[0]
            raise DataError(
                f"sample {row['dataset']}/{row['sample']}: label {row['label']} out of range"
            )
        keys = (
            self.samples["dataset"]
            + "/"
            + self.samples["subject"].astype(str)
            + "/"
            + self.samples["sample"].astype(str)
        )
        if keys.duplicated().any():
            raise DataError(f"duplicate samples: {sorted(set(keys[keys.duplicated()]))[:5]}")

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label"].to_numpy(dtype=np.int64)

    def fold_keys(self) -> pd.Series:
        """Per sample, its LOSO group: subject ids are only unique within a dataset."""
        return sample_key(self.samples["dataset"], self.samples["subject"])
