"""Child processes that never outlive the process that started them, and that never print a
traceback when their driver is stopped.

A driver stopped with SIGTERM or Ctrl-C ends its workers itself; a driver killed outright
(SIGKILL, the out-of-memory killer) cannot, and its workers, helper processes and their memory
would stay behind as orphans. So every child calls `die_with_parent` first: on Linux the kernel
kills it when its parent dies (prctl PR_SET_PDEATHSIG), and on every system a thread polls the
parent's id and ends the child when the parent is gone.

A `spawn` child reads its pickled arguments from a pipe before any of our code runs in it. Two
things made it print a traceback: a Ctrl-C reaching the whole process group while it imports
(KeyboardInterrupt), and a driver stopped or killed in the middle of writing those arguments
(the child reads half a pickle). Within `starting_children()` children start with SIGINT ignored
(only the driver answers Ctrl-C) and end quietly on a pickle cut short, and a driver stopped
inside the block kills the children it started there at once. Nothing here imports mer-bench.
"""

from __future__ import annotations

import ctypes
import multiprocessing.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Seconds between two checks of the parent's process id (where prctl is not available).
POLL_S = 1.0
#: prctl option that sends the calling process a signal when its parent thread dies (Linux).
PR_SET_PDEATHSIG = 1
#: What a spawn child runs instead of multiprocessing's one line (`{call}`): the same, but first
#: tied to its parent `{parent}` (so it dies with it even while still importing), and a pickle
#: cut short (its driver stopped or killed while writing it) ends it quietly.
QUIET_START = """import ctypes, os, pickle, sys
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
if os.getppid() != {parent}:
    sys.exit(1)
try:
    {call}
except (EOFError, pickle.UnpicklingError):
    sys.exit(1)  # the driver stopped while handing over the arguments
"""


def die_with_parent(parent_pid: int) -> None:
    """In a child process started by `parent_pid`: end (SIGKILL, silently) when that process
    ends, and leave Ctrl-C to the parent, which stops its children itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the polling thread alone
            pass
    if os.getppid() != parent_pid:  # the parent died before the kernel could be told
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="mer-bench-lifeline", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os._exit(1)  # reparented: the parent is gone


@contextmanager
def starting_children() -> Iterator[list[int]]:
    """Start `multiprocessing` spawn children inside this block (a pool's workers start as tasks
    are submitted). They start with SIGINT ignored (Python keeps an inherited SIG_IGN), and if
    the block ends with an exception (a Ctrl-C or SIGTERM turned into KeyboardInterrupt, perhaps
    in the middle of handing a child its arguments), every child started in it is killed before
    the exception goes on. Yields the process ids started so far. Only the main thread changes
    signal handlers; elsewhere children start as usual but are still killed on an exception."""
    started: list[int] = []
    original = multiprocessing.util.spawnv_passfds
    main = threading.current_thread() is threading.main_thread()

    def spawn(path, args, passfds):  # multiprocessing's own fork + exec, SIGINT ignored across it
        args = list(args)
        if "-c" in args[:-1] and args[args.index("-c") + 1].startswith(
            "from multiprocessing.spawn import spawn_main"
        ):
            at = args.index("-c") + 1
            args[at] = QUIET_START.format(call=args[at], parent=os.getpid())
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            pid = original(path, args, passfds)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if any("spawn_main" in str(a) for a in args):  # not the shared resource tracker
            started.append(pid)
        return pid

    multiprocessing.util.spawnv_passfds = spawn
    try:
        yield started
    except BaseException:
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)  # silent: no half-read pickle reported
            except OSError:
                pass
        raise
    finally:
        multiprocessing.util.spawnv_passfds = original
