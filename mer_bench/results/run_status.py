"""What a stored run's status means now: honest labels for `results`, `show` and the board.

The store records what the run's process last wrote (`running`, `interrupted`, `failed`,
`finished`, `imported`) with the host and process id that trained it. A process killed without a
chance to write (kill -9, a power cut) leaves `running` behind; on the host that trained it, a
process id that no longer exists tells it apart. Nothing here writes the database: readers show
the state, and `--resume` is what changes it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

#: Statuses whose every fold is stored.
COMPLETE = ("finished", "imported")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def process_state(run: Any) -> str | None:
    """For a `running` run: "alive" or "gone" when it was trained on this host, None when that
    cannot be known here (another host, or no process recorded)."""
    if run.status != "running" or not run.pid or not run.host:
        return None
    if run.host != socket.gethostname():
        return None
    return "alive" if _pid_alive(int(run.pid)) else "gone"


def live_elsewhere(run: Any) -> bool:
    """Whether another live process on this host is training `run` now."""
    return process_state(run) == "alive" and int(run.pid) != os.getpid()


def status_label(run: Any, done: int) -> str:
    """The status as shown: the stored one, made honest. A `running` run whose process is gone
    reads "stopped (process gone)"; any incomplete run says how many folds it has."""
    status = run.status
    state = process_state(run)
    if state == "gone":
        status = "stopped (process gone)"
    elif (
        run.status == "running" and state is None and run.host and run.host != socket.gethostname()
    ):
        status = f"running on {run.host}?"
    if run.status not in COMPLETE or done < run.n_folds:
        status += f", {done}/{run.n_folds} folds"
    return status


def resumable(run: Any, done: int) -> bool:
    """Whether `--resume` would train something for this run."""
    return run.status not in COMPLETE and done < run.n_folds and process_state(run) != "alive"
