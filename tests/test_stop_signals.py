"""Long-running commands stop cleanly on SIGINT and SIGTERM whatever they inherited.

A command started with ``&`` from a non-interactive shell inherits SIGINT ignored;
supervisors send SIGTERM to the whole process group. Both must end in exit 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts.core.net import free_port

ALERTS = str(Path(sys.executable).with_name("alerts"))


def _wait_ready(port: int | None, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the port accepts connections (the worker: until it logs that it is ready)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        if port is None:
            if b" ready." in log.read_bytes():
                return
            time.sleep(0.2)
            continue
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"not ready:\n{log.read_text(errors='replace')}")


def _start(args: list[str], tmp_path: Path, port: int | None) -> subprocess.Popen[bytes]:
    # `trap '' INT` then exec: the command inherits SIGINT ignored, as under `&`.
    command = "trap '' INT; exec " + " ".join([ALERTS, *args])
    env = {**os.environ, "ALERTS_DATA_DIR": str(tmp_path)}
    log = tmp_path / "output.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=tmp_path,
        )
    _wait_ready(port, proc, log)
    return proc


COMMANDS = {
    "bounces serve": lambda port: ["bounces", "serve", "--port", str(port)],
    "sink": lambda port: ["sink", "--port", str(port)],
    "serve": lambda port: ["serve", "--port", str(port)],
    # The worker listens on no port: ready is when it says so.
    "worker": lambda port: ["worker", "--concurrency", "2"],
    "worker --beat": lambda port: ["worker", "--concurrency", "2", "--beat"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("how", ["sigint-ignored-inherited", "sigterm-to-group"])
def test_long_running_command_stops_cleanly(name: str, how: str, tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    proc = _start(COMMANDS[name](port), tmp_path, None if name.startswith("worker") else port)
    if how == "sigint-ignored-inherited":
        proc.send_signal(signal.SIGINT)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{name} did not stop on {how}") from None
    output = (tmp_path / "output.log").read_text(errors="replace")
    assert code == 0, output
