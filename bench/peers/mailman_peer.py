"""GNU Mailman 3 as a peer: its own virtual environment, a list of N members, one post.

Everything lives under ``build/peers/mailman``: the virtual environment (Mailman from
PyPI, never in the project's), and one run directory per run with its ``mailman.cfg``
and ``var/`` (Mailman's SQLite database, queues and logs). The MTA is Postfix's
``smtp-sink``, the same sink and port our pipeline then sends to.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

VERSION = "3.3.10"  # the reference run
ROOT = Path(__file__).resolve().parents[2] / "build" / "peers" / "mailman"
VENV = ROOT / "venv"
POPULATE = Path(__file__).with_name("mailman_populate.py")
LIST = "news@bench.example"
POSTER = "press@bench.example"

CONFIG = """\
[mailman]
layout: bench
site_owner: owner@bench.example

[paths.bench]
var_dir: {var}

[mta]
# Nothing to tell an MTA about new lists; posts are injected into the queue.
incoming: mailman.mta.null.NullMTA
smtp_host: 127.0.0.1
smtp_port: {smtp_port}
lmtp_host: 127.0.0.1
lmtp_port: {lmtp_port}

[webservice]
hostname: 127.0.0.1
port: {rest_port}

[archiver.prototype]
enable: no
"""

POST = f"""\
From: Press Office <{POSTER}>
To: {LIST}
Subject: Mexico: authorities must find the disappeared students
Message-ID: <peer-bench-1@bench.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

"""


class PeerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install() -> Path:
    """Mailman in its own virtual environment (once; later runs reuse it)."""
    mailman = VENV / "bin" / "mailman"
    if mailman.exists():
        return mailman
    ROOT.mkdir(parents=True, exist_ok=True)
    print(f"installing GNU Mailman {VERSION} into {VENV} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", f"mailman=={VERSION}"],
        check=True,
    )
    return mailman


class Mailman:
    """One run: configured, populated, started, posted to, stopped."""

    def __init__(self, smtp_port: int, run_dir: Path) -> None:
        self.mailman = install()
        self.run_dir = run_dir
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        self.config = run_dir / "mailman.cfg"
        self.config.write_text(
            CONFIG.format(
                var=run_dir / "var",
                smtp_port=smtp_port,
                lmtp_port=free_port(),
                rest_port=free_port(),
            )
        )
        self.started = False

    def _command(self, *args: str) -> list[str]:
        # Root is refused unless said so; the bench runs as whoever runs it.
        root = ["--run-as-root"] if os.geteuid() == 0 else []
        return [str(self.mailman), "-C", str(self.config), *root, *args]

    def populate(self, members: int) -> float:
        """The list and its members; seconds it took."""
        started = time.monotonic()
        subprocess.run(
            [str(VENV / "bin" / "python"), str(POPULATE), str(self.config), LIST, str(members)],
            check=True,
        )
        return time.monotonic() - started

    def start(self, timeout: float = 120.0) -> None:
        log = self.run_dir / "start.log"
        with open(log, "ab") as out:
            # The master stays in the background, holding whatever output it was given.
            subprocess.run(self._command("start"), stdout=out, stderr=subprocess.STDOUT, check=True)
        self.started = True
        # Ready when every runner has said so in mailman.log (the out runner among them).
        mailman_log = self.run_dir / "var" / "logs" / "mailman.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = mailman_log.read_text(errors="replace") if mailman_log.exists() else ""
            if "out runner started." in text and "pipeline runner started." in text:
                return
            time.sleep(0.2)
        raise PeerFailed(f"Mailman's runners not started after {timeout:.0f}s: see {mailman_log}")

    def post(self, body: str) -> float:
        """Inject the post into the list's incoming queue; monotonic time it returned."""
        message = self.run_dir / "post.eml"
        message.write_text(POST + body + "\n")
        subprocess.run(self._command("inject", "-f", str(message), LIST), check=True)
        return time.monotonic()

    def stop(self) -> None:
        if not self.started:
            return
        subprocess.run(
            self._command("stop"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
        # The master waits for its runners; its lock file goes when it has.
        lock = self.run_dir / "var" / "locks" / "master.lck"
        deadline = time.monotonic() + 60
        while lock.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.started = False
