"""Peers beside us: GNU Mailman 3 and this project, one message to N members, one sink.

    .venv/bin/python -m bench.peers                      # 2,000 members, ours embedded
    .venv/bin/python -m bench.peers --members 100000 --ours postgres

In one run, to the same Postfix ``smtp-sink``: Mailman 3 (its own virtual
environment under build/peers/mailman, SQLite, one list, full personalisation: one
message per member) delivers one post; then our pipeline (bench/fanout.py's, on the
embedded set-up or PostgreSQL + Redis) sends one alert to as many journalists, and
the plain smtplib baseline the same number of copies. Prints the rates, the time of
the first email after the post (or the publish) returned, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from alerts.core.migrate import upgrade
from alerts.core.secret_policy import generate_secret
from alerts.core.settings import load_settings
from alerts.worker.app import create_celery
from bench import fanout
from bench.peers.mailman_peer import ROOT, Mailman, PeerFailed

DEFAULT_MEMBERS = 2_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--members", type=int, default=DEFAULT_MEMBERS, metavar="N", help="list members (2000)"
    )
    parser.add_argument(
        "--ours",
        choices=["embedded", "postgres"],
        default="embedded",
        help="our set-up: SQLite + SQLite broker (as Mailman's SQLite), or PostgreSQL + Redis",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="our worker processes (2)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per phase (7200)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if args.members < 1 or args.concurrency < 1:
        parser.error("--members >= 1, --concurrency >= 1")
    return args


def run_mailman(sink: fanout.SmtpSink, members: int, timeout: float) -> dict[str, Any]:
    peer = Mailman(sink.port, ROOT / "run")
    try:
        seconds = peer.populate(members)
        print(f"mailman: list of {members} members made in {seconds:.1f}s", flush=True)
        peer.start()
        sink.reset()
        t0 = peer.post(fanout.BODY)
        print(f"mailman: posted; waiting for {members} emails", flush=True)
        fanout.wait_for_sink(sink, members, t0, timeout, "mailman")
        assert sink.first_arrival is not None and sink.last_arrival is not None
        first, last = sink.first_arrival - t0, sink.last_arrival - t0
        time.sleep(2.0)  # anything more (a notice, a duplicate) would arrive meanwhile
        if sink.received != members:
            raise PeerFailed(f"the sink accepted {sink.received} messages, expected {members}")
    finally:
        peer.stop()
    return {
        "mailman_first_email_seconds": round(first, 3),
        "mailman_seconds": round(last, 3),
        "mailman_emails_per_second": round(members / last, 1),
        "mailman_populate_seconds": round(seconds, 1),
    }


def run_ours(sink: fanout.SmtpSink, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Our pipeline and the smtplib baseline, as bench/fanout.py runs them."""
    overrides: dict[str, Any] = {"data_dir": data_dir, "smtp_url": f"smtp://127.0.0.1:{sink.port}"}
    broker = None
    if args.ours == "postgres":
        broker = redis.Redis.from_url(fanout.BROKER_URL)
        broker.flushdb()
        fanout.recreate_database()
        overrides |= {
            "database_url": fanout.PG_URL,
            "broker_url": fanout.BROKER_URL,
            "secret_key": generate_secret(),
        }
    settings = load_settings(**overrides)
    upgrade(settings.database_url)
    app = create_celery(settings)
    try:
        matched = fanout.seed(app.runtime.engine, args.members, 1.0)
        bench_args = argparse.Namespace(
            concurrency=args.concurrency,
            timeout=args.timeout,
            journalists=args.members,
            share=1.0,
            per_connection=settings.smtp_messages_per_connection,
            batch_size=settings.batch_size,
            dkim=False,
        )
        found = fanout.end_to_end(app, sink, bench_args, matched, data_dir / "worker.log")
    finally:
        app.runtime.dispose()
        if broker is not None:
            broker.flushdb()
            fanout.drop_database()
    return {f"ours_{key}": value for key, value in found.items()}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sink = fanout.SmtpSink(fanout._free_port())
    results: dict[str, Any] = {"members": args.members, "ours": args.ours}
    try:
        results |= run_mailman(sink, args.members, args.timeout)
        # Printed now: a run of ours that fails, an hour into a big run, keeps Mailman's.
        print(json.dumps(results), flush=True)
        with tempfile.TemporaryDirectory(prefix="alerts-peers-") as tmp:
            results |= run_ours(sink, args, Path(tmp))
    except (PeerFailed, fanout.BenchFailed, subprocess.CalledProcessError) as exc:
        print(f"peer benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        sink.stop()
    ours = results["ours_pipeline_emails_per_second"]
    results["ours_over_mailman"] = round(ours / results["mailman_emails_per_second"], 1)
    results["mailman_over_baseline"] = round(
        results["mailman_emails_per_second"] / results["ours_baseline_emails_per_second"], 4
    )
    fanout.report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
