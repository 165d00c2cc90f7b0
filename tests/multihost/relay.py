"""The relay host's SMTP server: accepts everything, notes each message it accepted.

One JSON line per accepted recipient (its Message-ID, when) is appended and
flushed before the 250 goes out, so the tests count what the relay really took,
by Message-ID. A small delay per message keeps batches in flight long enough
for a fault to land mid-batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import IO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class NotingHandler:
    def __init__(self, log: IO[str], delay_file: Path) -> None:
        self.log, self.delay_file, self.lock = log, delay_file, threading.Lock()

    def delay(self) -> float:
        # Read per message, so a case can change it without restarting the relay.
        try:
            return float(self.delay_file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if delay := self.delay():
            await asyncio.sleep(delay)
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        message_id = str(message_from_bytes(data, policy=policy.default)["Message-ID"])
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                line = {"rcpt": rcpt, "mid": message_id, "t": time.time(), "peer": peer}
                self.log.write(json.dumps(line) + "\n")
            self.log.flush()
        return "250 2.0.0 Ok: queued"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--delay-file", type=Path, required=True, help="seconds per message")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(args.log, "a") as log:
        controller = Controller(
            NotingHandler(log, args.delay_file),
            hostname=args.host,
            port=args.port,
            ready_timeout=10,
        )
        controller.start()
        print(f"listening on {args.host}:{args.port}", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main()
