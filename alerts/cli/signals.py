"""Signal handling for the long-running commands, whatever disposition they inherited.

A process started with ``&`` from a non-interactive shell inherits SIGINT ignored,
and supervisors (systemd, ``docker stop``) send SIGTERM: both must stop the command
cleanly through its normal ``KeyboardInterrupt`` path so servers close and exit 0.
"""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """Make SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def reset_inherited_sigint() -> None:
    """Undo an inherited "ignore SIGINT" for commands whose framework handles signals.

    Celery and uvicorn install their own SIGTERM handlers but leave an ignored SIGINT
    alone in some paths; restoring Python's default lets them see Ctrl-C.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
