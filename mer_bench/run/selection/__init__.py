"""Selection policies: what predicts each held-out subject. The interface is `base`; each policy
is one module, registered under the `mer_bench.selection` entry-point group."""

from mer_bench.core.registry import POLICIES
from mer_bench.run.selection.base import FoldSelection, SelectionPolicy, run_selection

__all__ = [
    "POLICIES",
    "FoldSelection",
    "SelectionPolicy",
    "honest_policies",
    "make_policy",
    "run_selection",
]


def make_policy(name: str, **options) -> SelectionPolicy:
    """The policy registered as `name`, with its options."""
    return POLICIES.create(name, **options)


def honest_policies() -> list[str]:
    """Registered policies that never read test labels."""
    return [name for name, cls in POLICIES.items() if not cls.reads_test_labels]
