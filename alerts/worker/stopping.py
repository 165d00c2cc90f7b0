"""A worker stopped by its supervisor: every process finishes the message on the wire.

systemd (``KillMode=control-group``), supervisord's ``stopasgroup`` and a shell's
Ctrl-C signal every process of the worker at once, not only the main one. The
main process takes SIGTERM as Celery's warm shutdown; its pool processes, though,
have SIGTERM reset to the default action by Celery, so each died on the spot:

- a process in the middle of a batch left the messages the relay had already
  accepted unrecorded (its lease ran out and they were sent a second time);
- on the embedded set-up (a blocking pool whose processes share one queue) an
  idle process waits for work holding that queue's lock: killed, it never let
  go, and the main process waited for the lock at exit for ever ("Warm
  shutdown", then nothing).

So here, in a pool process, SIGTERM is a request. Busy, it lets the current SMTP
transaction end, and the batch hands the rest back untried (``stop_requested``
is what the send loop asks between messages); the task returns, its results
recorded. Busy or idle, the process then waits for the main process's warm
shutdown to close the pool, and leaves by the sentinel it is sent, exit code 0:
the pool neither logs a crash nor reports a task lost. Celery's cold shutdown
signals only its busy processes, which stop at the next message the same way.

The main process's Ctrl-C is made the same warm shutdown as SIGTERM (Celery's
exits 1); a second Ctrl-C is still Celery's cold shutdown.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from celery.apps import worker as celery_worker
from celery.signals import task_postrun, task_prerun, worker_process_init

# The watcher's nudge to the process's main thread. Not SIGTERM, nor any signal
# billiard resets after the pool initializer runs (that would undo ours): SIGURG is
# ignored by default and nothing here uses out-of-band socket data.
_NUDGE = signal.SIGURG

_busy = False  # a task is running in this process
_requested = False  # a stop signal came: what is not yet sent is handed back


def stop_requested() -> bool:
    """In a pool process: has a stop signal come? (Then hand back what is not yet sent.)"""
    return _requested


def _leave_if_idle(signum: int, frame: FrameType | None) -> None:
    # Only on the watcher's word: a stray SIGURG changes nothing.
    if _requested and not _busy:
        # Idle, so nothing is half done; SystemExit unwinds through the queue read
        # (its lock released) and billiard reports exit code 0 to the main process.
        sys.exit(0)


# A pool process does not leave by itself sooner than this. The main process's warm
# shutdown closes the pool within seconds and each process leaves by the sentinel
# it is sent. Leaving first would be worse: while the pool still runs it replaces the
# process from its supervisor thread, and Celery has the replacement killed when that
# thread ends (PR_SET_PDEATHSIG follows the forking thread), possibly holding the
# queue's lock: the very hang this module is about. Only a main process that
# terminates its pool (and then waits for it) needs this way out.
LEAVE_AFTER_SECONDS = 10.0


def _watch(main: int) -> None:
    signal.sigwait({signal.SIGTERM})
    global _requested
    _requested = True  # the task in hand (if any) ends at its next message
    time.sleep(LEAVE_AFTER_SECONDS)
    while True:
        if not _busy:
            signal.pthread_kill(main, _NUDGE)
        time.sleep(0.05)


def _take_stop_as_request(**_: Any) -> None:
    """In each pool process (after Celery reset SIGTERM there to its default action).

    SIGTERM is blocked in this thread and taken by a watcher thread instead of a
    handler, because billiard installs its own handler for SIGTERM (one that exits
    at once, mid-task) after this initializer: a blocked signal never reaches it.
    """
    global _busy, _requested
    _busy = _requested = False
    signal.signal(_NUDGE, _leave_if_idle)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    main = threading.get_ident()
    threading.Thread(target=_watch, args=(main,), name="stop-watch", daemon=True).start()


def _started(**_: Any) -> None:
    global _busy
    _busy = True


def _finished(**_: Any) -> None:
    global _busy
    _busy = False


class Worker(celery_worker.Worker):  # type: ignore[misc]
    """Celery's worker program, with Ctrl-C a warm shutdown that exits 0, like SIGTERM."""

    def install_platform_tweaks(self, worker: Any) -> None:
        super().install_platform_tweaks(worker)
        celery_worker.install_worker_term_handler(
            worker, sig="SIGINT", callback=celery_worker.on_SIGINT
        )


# Connected by call, not as decorators: these signals are untyped in the stubs.
worker_process_init.connect(_take_stop_as_request)
task_prerun.connect(_started)
task_postrun.connect(_finished)
