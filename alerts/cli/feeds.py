"""``alerts feed …``: newsroom RSS/Atom feeds whose new entries become items."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from alerts.cli.common import celery_app, console, fail
from alerts.cli.output import print_json
from alerts.core.models import Feed, utcnow
from alerts.feeds.credentials import hide_credentials
from alerts.feeds.fetch import make_client
from alerts.feeds.guard import AddressPolicy
from alerts.feeds.ingest import poll_all
from alerts.feeds.lead_photos import LeadPhotos
from alerts.feeds.registry import add_feed
from alerts.feeds.topic_map import FeedError, TopicMap

if TYPE_CHECKING:
    from alerts.core.runtime import Runtime
    from alerts.core.taxonomy import Taxonomy

app = typer.Typer(
    help="Newsroom RSS/Atom feeds: the beat polls them and turns new entries into items.",
    no_args_is_help=True,
)

TOPIC_MAP_HELP = (
    'JSON file: {"categories": {"<feed category>": {"topics": [...], "countries": [...]}}}; '
    "categories match case-insensitively. Entries with no mapped category stay drafts."
)


def _fail(message: str, code: int = 1) -> NoReturn:
    # Messages quote URLs and file contents: no Rich markup may hide in them.
    fail(escape(message), code)


def _runtime() -> Runtime:
    return celery_app().runtime


def _policy(runtime: Runtime) -> AddressPolicy:
    return AddressPolicy(allow_private=runtime.settings.feeds_allow_private)


def _schema_hint(exc: Exception) -> NoReturn:
    _fail(f"the database is not ready ({str(exc).splitlines()[0]}); run `alerts db upgrade`")


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) address.")],
    kind: Annotated[
        str, typer.Option(help="Kind of its items: press_release, report, statement or news.")
    ] = "press_release",
    topic_map: Annotated[Path | None, typer.Option("--topic-map", help=TOPIC_MAP_HELP)] = None,
) -> None:
    """Register a feed; entries whose categories map to topics or countries are published."""
    runtime = _runtime()
    try:
        mapping = TopicMap.load(topic_map, runtime.taxonomy) if topic_map is not None else None
        with runtime.sessions() as session:
            feed = add_feed(session, runtime.taxonomy, url, kind, mapping, _policy(runtime))
            session.commit()
    except FeedError as exc:
        _fail(str(exc), 2)
    except IntegrityError:  # registered by someone else since add_feed looked
        _fail(f"feed {hide_credentials(url.strip())} is already registered", 2)
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    mapped = len(mapping.categories) if mapping is not None else 0
    console.print(
        f"feed {feed.id} added: {hide_credentials(feed.url)} ({mapped} categories mapped)",
        markup=False,
        highlight=False,
    )


AS_JSON = typer.Option("--json", help="Print the same as JSON.")


@app.command("list")
def list_feeds(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """The registered feeds, when they were last polled and their last error."""
    runtime = _runtime()
    try:
        with runtime.sessions() as session:
            feeds = list(session.scalars(select(Feed).order_by(Feed.id)))
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    if as_json:
        print_json([_feed_json(feed, runtime.taxonomy) for feed in feeds])
        return
    if not feeds:
        console.print("no feeds yet: add one with `alerts feed add URL`", markup=False)
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("url", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("mapped", no_wrap=True)  # categories in the topic map
    table.add_column("last polled", no_wrap=True)
    table.add_column("last error", overflow="fold")
    for feed in feeds:
        table.add_row(
            str(feed.id),
            escape(hide_credentials(feed.url)),
            feed.kind,
            str(_mapped_categories(feed, runtime.taxonomy)),
            feed.last_polled_at.strftime("%Y-%m-%d %H:%M UTC") if feed.last_polled_at else "never",
            f"[red]{escape(feed.last_error)}[/]" if feed.last_error else "",
        )
    console.print(table)


def _feed_json(feed: Feed, taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": hide_credentials(feed.url),
        "kind": feed.kind,
        "mapped_categories": _mapped_categories(feed, taxonomy),
        "last_polled_at": feed.last_polled_at,
        "last_error": feed.last_error,
        "created_at": feed.created_at,
    }


def _mapped_categories(feed: Feed, taxonomy: Taxonomy) -> int | str:
    try:
        return len(TopicMap.from_json(feed.topic_map, taxonomy).categories)
    except FeedError:
        return "invalid"


@app.command("poll")
def poll(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """Poll every feed now (the beat does this on its own); exit 1 if any feed failed."""
    runtime = _runtime()
    try:
        with make_client(policy=_policy(runtime)) as client:
            photos = LeadPhotos.of(runtime.settings)
            summary = poll_all(runtime.sessions, runtime.taxonomy, client, utcnow(), photos)
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    if as_json:
        print_json(summary)
        if summary["failed"]:
            raise typer.Exit(1)
        return
    if not summary["feeds"]:
        console.print("no feeds yet: add one with `alerts feed add URL`", markup=False)
        return
    for result in summary["results"]:
        for line in _result_lines(result):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{summary['feeds']} feed(s): {summary['published']} published, "
        f"{summary['drafted']} left as drafts for staff, {summary['not_modified']} unchanged, "
        f"{summary['failed']} failed",
        highlight=False,
    )
    if summary["failed"]:
        raise typer.Exit(1)


def _result_lines(result: dict[str, Any]) -> list[str]:
    head = f"feed {result['feed_id']} {result['url']}".rstrip()
    if result["status"] == "failed":
        return [f"{head}: failed: {result['error']}"]
    if result["status"] == "not-modified":
        return [f"{head}: not modified"]
    lines = [
        f"{head}: published {_ids(result['published'])}, drafted {_ids(result['drafted'])}, "
        f"skipped {result['skipped']}"
    ]
    lines += [f"  {problem}" for problem in result["problems"]]
    if result["unmapped"]:
        lines.append(f"  categories not in the topic map: {', '.join(result['unmapped'])}")
    return lines


def _ids(ids: list[int]) -> str:
    return f"{len(ids)} ({', '.join(map(str, ids))})" if ids else "0"
