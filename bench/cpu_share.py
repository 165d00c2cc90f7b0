"""CPU time per message of each party of a ``bench.fanout`` run, by phase.

    .venv/bin/python -m bench.cpu_share --journalists 30000

Runs ``python -m bench.fanout --json`` with the arguments given and samples, every
0.1 s, the CPU time (user + system, ``/proc/PID/stat``) of: the worker processes,
the PostgreSQL backends of the bench's database, ``smtp-sink``, the baseline's
sender processes and the bench itself. The phase is read from the bench's output
(the pipeline from the publish to its check; the baseline after). On a shared
machine a wall-clock rate moves with everyone else's load; CPU time per message
moves far less, so this says whether a change made a message cheaper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _parties(bench: int, database: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = [("bench", bench)]
    for child in _children(bench):
        command = _cmdline(child)
        party = (
            "worker"
            if "alerts worker" in command
            else "sink"
            if "smtp-sink" in command
            else "baseline senders"
        )
        found += [(party, child)] + [(party, grandchild) for grandchild in _children(child)]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            command = _cmdline(int(entry))
            if command.startswith("postgres:") and f" {database} " in command:
                found.append(("postgres", int(entry)))
    return found


def main(argv: list[str]) -> int:
    database = os.environ.get("BENCH_DB_NAME", "alerts_bench")
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench.fanout", "--json", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    phase = "setup"
    first: dict[tuple[str, str, int], float] = {}
    last: dict[tuple[str, str, int], float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            current = phase
            for party, pid in _parties(bench.pid, database):
                seconds = _cpu_seconds(pid)
                if seconds is not None:
                    first.setdefault((current, party, pid), seconds)
                    last[(current, party, pid)] = seconds
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    assert bench.stdout is not None
    lines = []
    for line in bench.stdout:
        print(line, end="", flush=True)
        lines.append(line)
        if line.startswith("published item"):
            phase = "pipeline"
        elif line.startswith("pipeline check"):
            phase = "check"
        elif line.startswith("baseline:"):
            phase = "baseline"
    done.set()
    if bench.wait() != 0:
        return bench.returncode
    output = "".join(lines)
    result = json.loads(output[output.index("{\n") :])
    messages = result["journalists"]
    used: dict[tuple[str, str], float] = {}
    for key, seconds in last.items():
        used[key[:2]] = used.get(key[:2], 0.0) + seconds - first[key]
    print(f"\nCPU per message (µs), {messages} messages; load {os.getloadavg()[0]:.1f} at the end")
    for name in ("pipeline", "baseline"):
        shares = {party: s for (p, party), s in sorted(used.items()) if p == name and s > 0}
        total = sum(shares.values())
        parts = ", ".join(f"{party} {s / messages * 1e6:.0f}" for party, s in shares.items())
        print(f"  {name:9s} {total / messages * 1e6:5.0f}: {parts}")
    print(f"  ratio (emails/s, wall clock) {result['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
