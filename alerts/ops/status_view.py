"""The Rich rendering of `alerts status` (the numbers come from alerts.ops)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Column, Table


def render(s: dict[str, Any]) -> Group:
    broker = s["broker"]
    head = Table.grid(padding=(0, 2))
    head.add_row(
        "broker",
        f"{broker['url']} "
        + (
            "[green]reachable[/]"
            if broker["reachable"]
            else f"[red]UNREACHABLE[/] {broker.get('error', '')}"
        ),
    )
    workers = s.get("workers")
    if workers is None:
        head.add_row("workers", "not visible on this broker (the embedded broker has no broadcast)")
    elif not workers:
        head.add_row("workers", "[red]none answered[/]")
    else:
        for name, queues in workers.items():
            head.add_row("worker", f"{name}: {', '.join(queues)}")
    oldest = s["oldest_pending_seconds"]
    head.add_row("oldest pending", "none" if oldest is None else f"{oldest:.1f} s")
    head.add_row("failure rate (day)", f"{100 * s['failure_rate_last_day']:.2f} %")

    queues = Table("queue", "waiting", title="Queues")
    for name, depth in s.get("queues", {}).items():
        queues.add_row(name, str(depth))

    deliveries = Table("", *s["deliveries_last_day"].keys(), title="Deliveries")
    deliveries.add_row("last hour", *(str(v) for v in s["deliveries_last_hour"].values()))
    deliveries.add_row("last day", *(str(v) for v in s["deliveries_last_day"].values()))
    digests = Table(*s["digests_last_day"].keys(), title="Digests planned in the last day")
    digests.add_row(*(str(v) for v in s["digests_last_day"].values()))

    duties = Table("duty", "every", "last success", "last run by", title="Periodic duties")
    for duty in s.get("duties", []):
        last = duty["last_success"] or "never"
        style = "red" if duty["overdue"] else ""
        mark = " OVERDUE" if duty["overdue"] else ""
        duties.add_row(
            duty["name"],
            f"{duty['interval_seconds']:g} s",
            f"[{style}]{last}{mark}[/]" if style else last,
            duty["last_host"] or "",
        )

    items = Table(
        "#",
        Column("title", overflow="fold"),  # folded in a narrow terminal, never "…"
        "progress",
        "sent",
        "pending",
        "failed",
        "publish → last send",
        title="Recent items",
    )
    for item in s["recent_items"]:
        seconds = item["publish_to_last_send_seconds"]
        items.add_row(
            str(item["id"]),
            escape(item["title"]),  # a title such as "[Update] …" is text, not markup
            ProgressBar(total=max(item["total"], 1), completed=item["sent"], width=20),
            f"{item['sent']}/{item['total']}",
            str(item["pending"]),
            str(item["failed"]),
            "" if seconds is None else f"{seconds:.1f} s",
        )
    return Group(
        Panel(head, title="newsroom-alerts", expand=False),
        queues,
        duties,
        deliveries,
        digests,
        items,
    )
