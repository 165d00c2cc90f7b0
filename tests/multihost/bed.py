"""A multi-host test bed on one machine: network namespaces on a private bridge.

Hosts (each its own network namespace, veth into a bridge in the root namespace):

- ``data``: its own PostgreSQL cluster (initdb + pg_ctl into a temporary
  directory) and Redis, listening on the bridge address only;
- ``w1`` … ``wN``: each runs ``alerts worker --beat``, as a deployment would;
- ``relay``: the test SMTP server (tests/multihost/relay.py), which notes every
  message it accepts.

The root namespace has an address on the bridge too, so the test process can
publish and read the database. Faults are nftables rules inside a worker's
namespace (partition, loss), its link set down, its processes frozen, or a
delaying TCP proxy (tests/multihost/delay_proxy.py) on the data host: this
kernel has no netem qdisc.

Everything made here is removed by :meth:`Bed.close`, which runs from the
fixture's finalizer and from an atexit/signal handler, so a failed or
interrupted run leaves no namespace, process or data directory behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_PORT, REDIS_PORT, SMTP_PORT = 5432, 6379, 2525
PG_PROXY_PORT, REDIS_PROXY_PORT = 15432, 16379
# Random-looking, as start-up requires (alerts/secret_policy.py); for tests only.
SECRET = "tS7vQ2xLr9KpW4mZc8NfJ3hYb6GdE1uA-oRkVnXs5Ti"


class BedUnavailable(Exception):
    """The kernel (or the user) refuses network namespaces: the cases are skipped."""


def run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        check=check,
        timeout=timeout,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise BedUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def probe() -> None:
    """Raise BedUnavailable with the kernel's own words if namespaces are refused."""
    name = f"nra-probe-{secrets.token_hex(3)}"
    result = run("ip", "netns", "add", name, check=False)
    if result.returncode != 0:
        raise BedUnavailable(f"ip netns add refused: {result.stderr.strip()}")
    run("ip", "netns", "del", name, check=False)
    # Namespaces work, so a missing tool is a broken set-up, not a reason to skip.
    for tool in ("nft", "redis-server", "runuser", "unshare"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (the Makefile's netbed target)")


@dataclass
class Host:
    name: str
    ns: str
    addr: str
    veth: str  # the root side of its veth pair
    dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *args]


@dataclass
class Bed:
    workers: int = 3
    env: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nra-bed-")))
    _closed: bool = False

    def __post_init__(self) -> None:
        self.bridge = f"nra-{self.tag}-br"
        self.net = _free_subnet()
        self.root_addr = self._addr(1)
        self.worker_names = [f"w{n}" for n in range(1, self.workers + 1)]

    # --- addresses and URLs -------------------------------------------------

    def _addr(self, n: int) -> str:
        return str(self.net.network_address + n)

    @property
    def data(self) -> Host:
        return self.hosts["data"]

    @property
    def relay(self) -> Host:
        return self.hosts["relay"]

    def database_url(self, proxied: bool = False) -> str:
        port = PG_PROXY_PORT if proxied else PG_PORT
        return f"postgresql+psycopg://postgres@{self.data.addr}:{port}/alerts"

    def broker_url(self, proxied: bool = False) -> str:
        port = REDIS_PROXY_PORT if proxied else REDIS_PORT
        return f"redis://{self.data.addr}:{port}/0"

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.relay.addr}:{SMTP_PORT}"

    @property
    def accepted_log(self) -> Path:
        return self.relay.dir / "accepted.jsonl"

    # --- building -----------------------------------------------------------

    def start(self) -> Bed:
        _register(self)
        os.chmod(self.dir, 0o755)  # the PostgreSQL server runs as postgres
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.root_addr}/{self.net.prefixlen}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        names = ["data", "relay", *self.worker_names]
        for n, name in enumerate(names, start=2):
            self._add_host(name, self._addr(n))
        self._start_postgres()
        self._start_redis()
        self._start_relay()
        self._create_database()
        return self

    def _add_host(self, name: str, addr: str) -> None:
        ns = f"nra-{self.tag}-{name}"
        veth = f"nra-{self.tag}-{name}"[:15]
        host_dir = self.dir / name
        host_dir.mkdir()
        host = Host(name, ns, addr, veth, host_dir)
        self.hosts[name] = host
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "link", "set", veth, "master", self.bridge)
        run("ip", "link", "set", veth, "up")
        run(*host.cmd("ip", "addr", "add", f"{addr}/{self.net.prefixlen}", "dev", "eth0"))
        run(*host.cmd("ip", "link", "set", "eth0", "up"))
        run(*host.cmd("ip", "link", "set", "lo", "up"))
        # One table per host for the faults; emptied by heal().
        run(*host.cmd("nft", "add", "table", "inet", "nra"))
        for chain, hook in (("out", "output"), ("in", "input")):
            run(
                *host.cmd(
                    "nft", "add", "chain", "inet", "nra", chain,
                    f"{{ type filter hook {hook} priority 0; policy accept; }}",
                )
            )  # fmt: skip

    def _start_postgres(self) -> None:
        bin_dir, data = pg_bin(), self.data
        pgdata = data.dir / "pgdata"
        pgdata.mkdir()
        shutil.chown(data.dir, "postgres")
        shutil.chown(pgdata, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
        run(*as_pg, str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres",
            "--auth=trust", "--no-sync", timeout=120)  # fmt: skip
        with open(pgdata / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.net} trust\n")
        options = (
            f"-c listen_addresses={data.addr},127.0.0.1 -c port={PG_PORT} "
            f"-c unix_socket_directories={data.dir} -c fsync=off -c max_connections=200"
        )
        run(*data.cmd(*as_pg, str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-l",
                      str(data.dir / "postgres.log"), "-o", options, "-w", "start"),
            timeout=120)  # fmt: skip

    def _start_redis(self) -> None:
        data = self.data
        self.spawn(
            data,
            ["redis-server", "--bind", f"{data.addr} 127.0.0.1", "--port", str(REDIS_PORT),
             "--save", "", "--appendonly", "no", "--dir", str(data.dir),
             # Reachable only inside the bed's private network.
             "--protected-mode", "no"],
            "redis.log",
        )  # fmt: skip
        _wait(lambda: b"Ready to accept" in (data.dir / "redis.log").read_bytes(), 30, "redis")

    def _start_relay(self) -> None:
        relay = self.relay
        self.spawn(
            relay,
            [PYTHON, "-m", "tests.multihost.relay", "--host", relay.addr,
             "--port", str(SMTP_PORT), "--log", str(self.accepted_log),
             "--delay-file", str(relay.dir / "delay")],
            "relay.log",
        )  # fmt: skip
        _wait(lambda: b"listening" in (relay.dir / "relay.log").read_bytes(), 30, "relay")

    def start_delay_proxy(self) -> None:
        """A latency line in front of PostgreSQL and Redis, on the data host (no delay yet)."""
        data = self.data
        self.line_delay(0)
        self.spawn(
            data,
            [PYTHON, "-m", "tests.multihost.delay_proxy", "--listen", data.addr,
             "--delay-file", str(data.dir / "line-delay"),
             f"{PG_PROXY_PORT}:127.0.0.1:{PG_PORT}", f"{REDIS_PROXY_PORT}:127.0.0.1:{REDIS_PORT}"],
            "proxy.log",
        )  # fmt: skip
        _wait(lambda: b"listening" in (data.dir / "proxy.log").read_bytes(), 30, "proxy")

    def _create_database(self) -> None:
        admin = f"postgresql://postgres@{self.data.addr}:{PG_PORT}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE DATABASE alerts")

    def spawn(self, host: Host, args: list[str], log_name: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:  # fmt: skip
        with open(host.dir / log_name, "ab") as log:
            proc = subprocess.Popen(
                host.cmd(*args),
                cwd=ROOT,
                env=os.environ | (env or {}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        host.procs.append(proc)
        return proc

    # --- workers ------------------------------------------------------------

    def worker_env(
        self, host: Host, proxied: bool = False, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        return (
            {
                "ALERTS_DATA_DIR": str(host.dir / "data"),
                "ALERTS_DATABASE_URL": self.database_url(proxied),
                "ALERTS_BROKER_URL": self.broker_url(proxied),
                "ALERTS_SMTP_URL": self.smtp_url,
                "ALERTS_SECRET_KEY": SECRET,
                "ALERTS_BASE_URL": "http://alerts.example",
                "ALERTS_FROM": "Press Office <press-alerts@ngo.example>",
                "ALERTS_REPLY_TO": "press@ngo.example",
                "PROMETHEUS_MULTIPROC_DIR": str(host.dir / "data" / "metrics"),
            }
            | self.env
            | (extra or {})
        )

    def start_worker(self, name: str) -> None:
        self.start_workers([name])

    def start_workers(
        self,
        names: list[str] | None = None,
        proxied: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        """Start them all, then wait for each: start-ups overlap (slow behind a delay)."""
        waits = []
        for name in names or self.worker_names:
            host = self.hosts[name]
            (host.dir / "data" / "metrics").mkdir(parents=True, exist_ok=True)
            log = host.dir / "worker.log"
            offset = log.stat().st_size if log.exists() else 0
            # Its own host name too (a UTS namespace), as each machine of a deployment has.
            named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name]
            self.spawn(
                host,
                [*named, PYTHON, "-m", "alerts", "worker", "--beat", "--concurrency", "2"],
                "worker.log",
                self.worker_env(host, proxied, extra),
            )
            waits.append((name, log, offset))
        for name, log, offset in waits:
            try:
                _wait(partial(_ready, log, offset), 120, f"worker {name}")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}:\n{self.worker_log(name)[-3000:]}") from None

    def stop_processes(self, name: str) -> None:
        """Every process in the host's namespace, killed outright (a lost host's too)."""
        host = self.hosts[name]
        for pid in self.pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)
        for proc in host.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        host.procs = [p for p in host.procs if p.poll() is None]

    def pids(self, name: str) -> list[int]:
        out = run("ip", "netns", "pids", self.hosts[name].ns, check=False).stdout
        return [int(p) for p in out.split()]

    def host_of_pid(self, pid: int) -> str | None:
        for name in self.hosts:
            if pid in self.pids(name):
                return name
        return None

    def worker_log(self, name: str) -> str:
        path = self.hosts[name].dir / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- faults -------------------------------------------------------------

    def _rule(self, name: str, chain: str, rule: str) -> None:
        host = self.hosts[name]
        run(*host.cmd("nft", "add", "rule", "inet", "nra", chain, *rule.split()))

    def partition(self, name: str, peer: str) -> None:
        """Drop every packet between host ``name`` and host ``peer`` (both ways)."""
        addr = self.hosts[peer].addr
        self._rule(name, "out", f"ip daddr {addr} drop")
        self._rule(name, "in", f"ip saddr {addr} drop")

    def lossy(self, name: str, peer: str, percent: int) -> None:
        addr = self.hosts[peer].addr
        self._rule(name, "out", f"ip daddr {addr} numgen random mod 100 < {percent} drop")
        self._rule(name, "in", f"ip saddr {addr} numgen random mod 100 < {percent} drop")

    def heal(self, name: str) -> None:
        host = self.hosts[name]
        for chain in ("out", "in"):
            run(*host.cmd("nft", "flush", "chain", "inet", "nra", chain))

    def link(self, name: str, up: bool) -> None:
        host = self.hosts[name]
        run(*host.cmd("ip", "link", "set", "eth0", "up" if up else "down"))

    def freeze(self, name: str) -> list[int]:
        pids = self.pids(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return pids

    # --- what the relay accepted --------------------------------------------

    def accepted(self) -> list[dict[str, object]]:
        if not self.accepted_log.exists():
            return []
        lines = self.accepted_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def line_delay(self, seconds: float) -> None:
        """The delaying proxy's delay, each way; it reads it within half a second."""
        (self.data.dir / "line-delay").write_text(str(seconds))

    def relay_delay(self, seconds: float) -> None:
        (self.relay.dir / "delay").write_text(str(seconds))

    def clear_accepted(self) -> None:
        self.accepted_log.write_text("")

    # --- tearing down -------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name in list(self.hosts):
            with contextlib.suppress(Exception):
                self.stop_processes(name)
        if "data" in self.hosts:
            pgdata = self.data.dir / "pgdata"
            if (pgdata / "postmaster.pid").exists():
                run("runuser", "-u", "postgres", "--", str(pg_bin() / "pg_ctl"), "-D",
                    str(pgdata), "-m", "immediate", "stop", check=False)  # fmt: skip
        for host in self.hosts.values():
            run("ip", "netns", "del", host.ns, check=False)
            run("ip", "link", "del", host.veth, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _ready(log: Path, offset: int) -> bool:
    return b" ready." in log.read_bytes()[offset:]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {timeout:.0f}s")
        time.sleep(0.1)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no route of this machine uses yet."""
    routes = run("ip", "-4", "route", "show", "table", "all", check=False).stdout
    used = {ipaddress.ip_network(w, strict=False) for w in routes.split() if "/" in w}
    for _ in range(50):
        net = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(256)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise BedUnavailable("no free /24 in 10.213.0.0/16")


# Beds still open, closed at exit or on SIGTERM/SIGINT even when a finalizer never runs.
_OPEN: list[Bed] = []
_handlers_installed = False


def _register(bed: Bed) -> None:
    global _handlers_installed
    _OPEN.append(bed)
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(close_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(
            signum: int, frame: FrameType | None, previous: object = previous, sig: int = sig
        ) -> None:
            close_all()
            if callable(previous):
                previous(signum, frame)
            else:
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

        signal.signal(sig, handler)


def close_all() -> None:
    while _OPEN:
        _OPEN.pop().close()
