"""The web side under load: one-click unsubscribes, /subscribe and staff progress,
driven by ``wrk`` against ``alerts serve`` while a large send runs.

    .venv/bin/python -m bench.web_load                       # 100,000 journalists
    .venv/bin/python -m bench.web_load --journalists 30000 --web-workers 1

Set-up as ``bench.fanout`` (PostgreSQL + Redis, Postfix's ``smtp-sink``, an
``alerts worker`` subprocess), plus ``alerts serve --workers W`` and ``wrk``
(Debian package ``wrk``). N journalists match the item; N more (matching
nothing) are the ones who unsubscribe, so the send's own rows and counts are
unchanged by the load. Phases, in one run: the item sent with the web server
idle ("quiet"), then a second item sent while wrk drives, each at its own steady
rate (``bench/wrk/paced.lua``):

- RFC 8058 one-click POSTs to ``/u/TOKEN``, every token distinct (a file of
  List-Unsubscribe URLs made as the pipeline makes them);
- ``GET /subscribe``;
- the staff progress endpoint, ``GET /api/items/{id}/deliveries`` (counts by
  status and the first page), with a reader key.

wrk stops when the send ends. Reported: each endpoint's requests/s, p50/p99 and
errors; the send's rate quiet and loaded, and their ratio; and the check that
every one-click POST unsubscribed its journalist (rows counted afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine, func, select, text

from alerts.core.migrate import upgrade
from alerts.core.models import Journalist, JournalistStatus, utcnow
from alerts.core.secret_policy import generate_secret
from alerts.core.settings import Settings, load_settings
from alerts.core.tokens import Purpose
from alerts.staff.keys import create_key
from alerts.worker.app import AlertsCelery, create_celery
from bench import fanout
from bench.fanout import (
    BROKER_URL,
    COLUMNS,
    HOST,
    PG_URL,
    BenchFailed,
    SmtpSink,
    create_published_item,
    journalist_rows,
    seed,
    start_worker,
    stop_worker,
    tail,
    verify_pipeline,
    wait_for_sink,
    wait_until_ready,
    worker_env,
)

LUA = Path(__file__).with_name("wrk") / "paced.lua"


def seed_unsubscribers(engine: Engine, first: int, last: int) -> None:
    """Journalists ``first``..``last`` whose subscriptions match nothing the bench sends."""
    now = datetime.now(UTC)
    step = 50_000
    with engine.begin() as conn:
        for start in range(first, last + 1, step):
            rows = journalist_rows(start, min(start + step - 1, last), 0.0, now)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            for table, values in rows.items():
                columns = ", ".join(COLUMNS[table])
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
        for name in ("journalists", "subscriptions"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def write_paths(app: AlertsCelery, first: int, last: int, path: Path) -> None:
    """The List-Unsubscribe URLs of journalists ``first``..``last``, as paths."""
    runtime = app.runtime
    base = runtime.settings.base_url.rstrip("/")
    with open(path, "w") as out:
        for journalist_id in range(first, last + 1):
            url = runtime.link(Purpose.UNSUBSCRIBE, journalist_id)
            assert url.startswith(base + "/u/"), url
            out.write(url[len(base) :] + "\n")


def start_server(settings: Settings, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = worker_env(settings) | {"ALERTS_BASE_URL": settings.base_url}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alerts",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_server(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchFailed(f"alerts serve exited with {server.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchFailed(f"alerts serve not ready:\n{tail(log)}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def start_wrk(
    base: str,
    rate: float,
    threads: int,
    connections: int,
    method: str,
    paths: str,
    output: Path,
    key: str | None = None,
) -> subprocess.Popen[bytes]:
    """wrk at a steady ``rate`` until it is interrupted (SIGINT: it prints its report)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise BenchFailed("wrk not found: apt-get install wrk (or make wrk)")
    command = [binary, "-t", str(threads), "-c", str(connections), "-d", "3600s"]
    command += ["--timeout", "5s", "-s", str(LUA), base, "--", str(rate), str(threads)]
    command += [method, paths] + ([key] if key else [])
    with open(output, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def wrk_result(proc: subprocess.Popen[bytes], output: Path) -> dict[str, Any]:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    for line in output.read_text(errors="replace").splitlines():
        if line.startswith("WRK_JSON "):
            found: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            seconds = found["duration_us"] / 1e6
            errors = sum(found[k] for k in found if k.endswith("errors")) + found["timeouts"]
            return {
                "requests": found["requests"],
                "requests_per_second": round(found["requests"] / seconds, 1),
                "p50_ms": round(found["p50_us"] / 1000, 1),
                "p99_ms": round(found["p99_us"] / 1000, 1),
                "max_ms": round(found["max_us"] / 1000, 1),
                "errors": errors,
                "non_2xx": found["status_errors"],
                "paths_reused": found["wrapped"],
            }
    raise BenchFailed(f"wrk gave no report:\n{output.read_text(errors='replace')[-2000:]}")


def send(
    app: AlertsCelery,
    sink: SmtpSink,
    matched: int,
    timeout: float,
    worker: subprocess.Popen[bytes],
    log: Path,
    during: Any = None,
) -> tuple[int, float]:
    """Publish an item to the N and wait for all of it; (item id, emails/s)."""
    sink.reset()
    item_id, t0, _ = create_published_item(app)
    if during is not None:
        during(item_id)

    def alive() -> None:
        if worker.poll() is not None:
            raise BenchFailed(f"worker exited with {worker.returncode}:\n{tail(log)}")

    wait_for_sink(sink, matched, t0, timeout, "send", alive)
    assert sink.last_arrival is not None
    rate = matched / (sink.last_arrival - t0)
    return item_id, rate


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (clock ticks of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def web_only(
    seconds: float, base: str, paths: Path, server: subprocess.Popen[bytes], folder: Path
) -> dict[str, Any]:
    """One-click POSTs as fast as the server answers, nothing else running: requests/s,
    and the CPU each costs in the web processes (PostgreSQL's share is not counted: its
    backends come and go with the pool's overflow connections)."""
    out = folder / "wrk-web-only.txt"
    # A rate no server reaches: wrk never waits between requests.
    proc = start_wrk(base, 1e6, 2, 32, "POST", f"@{paths}", out)
    time.sleep(2.0)  # connections open, pools filled
    web_pids = fanout.process_tree(server.pid)
    before = cpu_seconds(web_pids)
    time.sleep(seconds)
    used = cpu_seconds(web_pids) - before
    found = wrk_result(proc, out)
    requests = found["requests_per_second"] * seconds
    return {f"web_only_{k}": v for k, v in found.items()} | {
        "web_only_web_cpu_ms_per_request": round(used / requests * 1000, 2),
    }


def report(results: dict[str, Any], as_json: bool) -> None:
    width = max(len(k) for k in results)
    print()
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    if as_json:
        print(json.dumps(results, indent=2))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--journalists", type=int, default=100_000, metavar="N")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--web-workers", type=int, default=2, help="alerts serve --workers (2)")
    parser.add_argument("--one-click-rate", type=float, default=500.0, help="POSTs/s (500)")
    parser.add_argument("--subscribe-rate", type=float, default=50.0, help="GETs/s (50)")
    parser.add_argument("--progress-rate", type=float, default=2.0, help="GETs/s (2)")
    parser.add_argument(
        "--phases",
        default="quiet,loaded",
        help="comma-separated order of sends: quiet (server idle) and loaded (wrk on)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per send (900)")
    parser.add_argument(
        "--web-only",
        type=float,
        metavar="SECONDS",
        help="no send: one-click POSTs unpaced for SECONDS; CPU per request (web, PostgreSQL)",
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    phases = args.phases.split(",")
    if not set(phases) <= {"quiet", "loaded"} or "loaded" not in phases or "quiet" not in phases:
        parser.error("--phases: quiet and loaded, each at least once")
    args.phases = phases
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="alerts-web-load-")
    folder = Path(tmp.name)
    broker = redis.Redis.from_url(BROKER_URL)
    sink: SmtpSink | None = None
    worker = server = None
    app: AlertsCelery | None = None
    try:
        broker.flushdb()
        fanout.recreate_database()
        sink = SmtpSink(fanout._free_port())
        port = fanout._free_port()
        settings = load_settings(
            data_dir=folder,
            database_url=PG_URL,
            broker_url=BROKER_URL,
            secret_key=generate_secret(),
            smtp_url=f"smtp://{HOST}:{sink.port}",
            base_url=f"http://{HOST}:{port}",
            worker_concurrency=args.concurrency,
        )
        upgrade(settings.database_url)
        app = create_celery(settings)
        n = args.journalists
        started = time.monotonic()
        matched = seed(app.runtime.engine, n, 1.0)
        seed_unsubscribers(app.runtime.engine, n + 1, 2 * n)
        paths = folder / "one-click-paths.txt"
        write_paths(app, n + 1, 2 * n, paths)
        with app.runtime.sessions() as session:
            key = create_key(session, "bench", "publisher", utcnow())[1]
            session.commit()
        print(f"{n} + {n} journalists seeded in {time.monotonic() - started:.1f}s", flush=True)

        base = settings.base_url
        server_log, worker_log = folder / "serve.log", folder / "worker.log"
        server = start_server(settings, port, args.web_workers, server_log)
        wait_for_server(base, server, server_log)
        worker = start_worker(settings, args.concurrency, worker_log)
        wait_until_ready(app, worker, 60.0, worker_log)
        print(f"alerts serve --workers {args.web_workers} on {port}; worker ready", flush=True)

        results: dict[str, Any] = {
            "journalists": n,
            "worker_concurrency": args.concurrency,
            "web_workers": args.web_workers,
            "cpus": os.cpu_count(),
        }
        if args.web_only:
            results |= web_only(args.web_only, base, paths, server, folder)
            report(results, args.json)
            return 0
        quiet, loaded = [], []
        for phase in args.phases:
            if phase == "quiet":
                item_id, rate = send(app, sink, matched, args.timeout, worker, worker_log)
                verify_pipeline(app.runtime.sessions, sink, item_id, matched)
                quiet.append(rate)
                print(f"quiet send: {rate:.0f} emails/s", flush=True)
                continue
            loads: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

            def drive(item_id: int, loads: dict[str, Any] = loads) -> None:
                for name, rate, threads, connections, method, target, auth in (
                    ("one_click", args.one_click_rate, 2, 64, "POST", f"@{paths}", None),
                    ("subscribe", args.subscribe_rate, 1, 8, "GET", "/subscribe", None),
                    (
                        "progress",
                        args.progress_rate,
                        1,
                        2,
                        "GET",
                        f"/api/items/{item_id}/deliveries?per_page=20",
                        key,
                    ),
                ):
                    out = folder / f"wrk-{name}.txt"
                    proc = start_wrk(base, rate, threads, connections, method, target, out, auth)
                    loads[name] = (proc, out)

            try:
                item_id, rate = send(app, sink, matched, args.timeout, worker, worker_log, drive)
            finally:
                web = {name: wrk_result(proc, out) for name, (proc, out) in loads.items()}
                # Printed before any failure of the send (a timeout, say) loses them.
                print(f"web under load: {web}", flush=True)
            verify_pipeline(app.runtime.sessions, sink, item_id, matched)
            loaded.append(rate)
            print(f"loaded send: {rate:.0f} emails/s; web: {web}", flush=True)
            for name, figures in web.items():
                results |= {f"{name}_{k}": v for k, v in figures.items()}
        with app.runtime.sessions() as session:
            unsubscribed = session.scalar(
                select(func.count())
                .select_from(Journalist)
                .where(Journalist.id > n, Journalist.status == JournalistStatus.UNSUBSCRIBED)
            )
        ok_posts = results["one_click_requests"] - results["one_click_errors"]
        # wrk does not count the requests in flight when it is stopped: up to one a connection.
        if results["one_click_paths_reused"] == 0 and not 0 <= unsubscribed - ok_posts <= 64:
            raise BenchFailed(f"{ok_posts} one-click POSTs answered 2xx, {unsubscribed} rows")
        results |= {
            "one_click_journalists_unsubscribed": unsubscribed,
            "send_quiet_emails_per_second": [round(r, 1) for r in quiet],
            "send_loaded_emails_per_second": [round(r, 1) for r in loaded],
            "send_loaded_over_quiet": round(
                sum(loaded) / len(loaded) / (sum(quiet) / len(quiet)), 3
            ),
        }
        report(results, args.json)
        return 0
    except BenchFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if worker is not None:
            stop_worker(worker)
        if server is not None:
            stop_process(server)
        if sink is not None:
            sink.stop()
        if app is not None:
            app.runtime.dispose()
        with contextlib.suppress(redis.RedisError):
            broker.flushdb()
        broker.close()
        if not args.keep_db:
            fanout.drop_database()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
