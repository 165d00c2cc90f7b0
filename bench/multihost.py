"""Throughput with hosts: one item to N journalists, sent by 1 to 3 worker hosts.

Runs on the multi-host bed of the tests (tests/multihost/bed.py: network
namespaces, root only): a data host with its own PostgreSQL and Redis, worker
hosts each running ``alerts worker --beat``, a relay host with the test SMTP
server. ``--delay`` puts a latency line (seconds each way) between the workers
and the data host. The relay is a Python server (about a millisecond of CPU per
message) on the same cores as everything else: compare runs of this bench with
each other, not with bench/fanout.py's C sink.

    .venv/bin/python -m bench.multihost --journalists 3000 --hosts 1
    .venv/bin/python -m bench.multihost --journalists 3000 --hosts 3 --delay 0.05
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from sqlalchemy import func, select

from alerts.core.migrate import upgrade
from alerts.core.models import Delivery, DeliveryStatus, FanOut
from alerts.core.settings import load_settings
from alerts.worker.app import create_celery
from tests.factories import journalist, published_item
from tests.multihost.bed import SECRET, Bed


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--journalists", type=int, default=3000, metavar="N")
    parser.add_argument("--hosts", type=int, default=3, choices=(1, 2, 3), help="worker hosts")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each way to the data")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bed = Bed(workers=args.hosts, env={"ALERTS_BATCH_SIZE": str(args.batch_size)})
    try:
        bed.start()
        upgrade(bed.database_url())
        bed.start_delay_proxy()
        bed.start_workers(proxied=True)
        bed.line_delay(args.delay)
        settings = load_settings(
            database_url=bed.database_url(),
            broker_url=bed.broker_url(),
            smtp_url=bed.smtp_url,
            secret_key=SECRET,
            data_dir=bed.dir / "root",
        )
        app = create_celery(settings)
        with app.runtime.sessions() as session:
            for n in range(args.journalists):
                journalist(session, f"bench{n:07d}@example.net", (["MX"], []))
            session.commit()
        time.sleep(1)  # the proxy has read its delay
        started = time.monotonic()
        with app.runtime.sessions() as session:
            item_id = published_item(session, title="Bench", countries=["MX"])
            session.commit()
        deadline = started + args.timeout
        while True:
            with app.runtime.sessions() as session:
                fanned = session.get(FanOut, item_id) is not None
                sent = session.scalar(
                    select(func.count()).where(
                        Delivery.item_id == item_id, Delivery.status == DeliveryStatus.SENT
                    )
                )
            if fanned and sent == args.journalists:
                break
            if time.monotonic() > deadline:
                print(f"timed out: {sent} of {args.journalists} sent")
                return 1
            time.sleep(0.2)
        seconds = time.monotonic() - started
        accepted = bed.accepted()
        copies = len(accepted) - len({a["rcpt"] for a in accepted})
        by_host: dict[str, int] = {}
        for a in accepted:
            name = next(h.name for h in bed.hosts.values() if h.addr == a["peer"])
            by_host[name] = by_host.get(name, 0) + 1
        result = {
            "journalists": args.journalists,
            "hosts": args.hosts,
            "delay_each_way_s": args.delay,
            "batch_size": args.batch_size,
            "seconds": round(seconds, 2),
            "per_second": round(args.journalists / seconds, 1),
            "accepted_by_host": dict(sorted(by_host.items())),
            "duplicates": copies,
        }
        print(
            f"{args.journalists} sent by {args.hosts} host(s) in {seconds:.1f} s: "
            f"{result['per_second']}/s; by host {result['accepted_by_host']}; "
            f"duplicates {copies}"
        )
        if args.json:
            print(json.dumps(result))
        app.runtime.dispose()
        return 0
    finally:
        bed.close()


if __name__ == "__main__":
    raise SystemExit(main())
