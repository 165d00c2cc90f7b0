"""What a process builds once from its settings: engine, sessions, templates, signer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from threading import Lock, local
from typing import Any

from jinja2 import Environment
from sqlalchemy import Engine
from sqlalchemy.orm import Session, object_session, sessionmaker

from alerts.audience.membership import address_hasher
from alerts.core.db import make_engine, make_session_factory
from alerts.core.models import Item
from alerts.core.settings import Settings
from alerts.core.taxonomy import Taxonomy, load_topics
from alerts.core.text_versions import TextVersion
from alerts.core.tokens import Purpose, TokenSigner
from alerts.delivery.throttle import RelayThrottle
from alerts.items import translations
from alerts.items.fan_out_rule import fan_out_due
from alerts.mail.dkim import DkimKey, DkimSigner
from alerts.mail.rendering import Recipient, RenderedItem, Sender, make_environment, render_item
from alerts.mail.rich_blocks import RichContent, load_rich
from alerts.mail.smtp import SmtpTransport


class Runtime:
    """Lazily built, so a forked worker child opens its own connections."""

    def __init__(
        self, settings: Settings, on_published: Callable[[int], None] | None = None
    ) -> None:
        self.settings = settings
        self._on_published = on_published
        self._rendered: OrderedDict[tuple[int, datetime, str, str, str, str], RenderedItem] = (
            OrderedDict()
        )
        self._render_lock = Lock()
        self._localised: dict[str, Environment] = {}
        self._local = local()

    @cached_property
    def engine(self) -> Engine:
        # Half the lease: a lost host's locks are gone before its rows are taken over.
        return make_engine(
            self.settings.database_url,
            self.settings.lease_seconds / 2,
            pool_size=self.settings.db_pool_size,
        )

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, self._on_published, fan_out_due)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy(topics=load_topics(self.settings.topics_file))

    @cached_property
    def templates(self) -> Environment:
        return make_environment(self.settings.templates_dir)

    def templates_for(self, language: str) -> Environment:
        """Email templates with the gettext catalogue of one language installed."""
        with self._render_lock:
            env = self._localised.get(language)
            if env is None:
                env = make_environment(self.settings.templates_dir, language)
                self._localised[language] = env
            return env

    def link(
        self, purpose: Purpose, journalist_id: int, request: dict[str, Any] | None = None
    ) -> str:
        path = {
            Purpose.CONFIRM: "confirm",
            Purpose.UNSUBSCRIBE: "u",
            Purpose.PREFERENCES: "preferences",
        }[purpose]
        token = self.signer.sign(purpose, journalist_id, request)
        return f"{self.settings.base_url}/{path}/{token}"

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(
            self.settings.secret,
            preferences_max_age=self.settings.preferences_link_days * 24 * 3600,
        )

    @cached_property
    def throttle(self) -> RelayThrottle | None:
        """The relay's send rate, shared through Redis when that is the broker."""
        rate = self.settings.smtp_rate_per_second
        if not rate:
            return None
        return RelayThrottle(self.settings.rate_limit_storage, rate, self.settings.smtp.label)

    @cached_property
    def address_hasher(self) -> Callable[[str], str]:
        return address_hasher(self.settings.secret)

    @cached_property
    def sender(self) -> Sender:
        s = self.settings
        return Sender(
            from_address=s.from_address,
            reply_to=s.reply_to,
            domain=s.from_domain,
            secret=s.secret,
            list_id=f"Press alerts <alerts.{s.from_domain}>",
            dkim=self._dkim_signer(),
        )

    def _dkim_signer(self) -> DkimSigner | None:
        s = self.settings
        domain = s.dkim_domain or s.from_domain
        keys = tuple(
            DkimKey(selector, domain, key_file.read_bytes())
            for selector, key_file in (
                (s.dkim_selector, s.dkim_private_key_file),
                (s.dkim_second_selector, s.dkim_second_private_key_file),
            )
            if selector and key_file
        )
        return DkimSigner(keys) if keys else None

    def recipient(
        self,
        delivery_id: int,
        journalist_id: int,
        email: str,
        name: str,
        in_reply_to: str | None = None,
        digest: str | None = None,
    ) -> Recipient:
        """``digest``: a digest email's cadence; its unsubscribe link ends only that digest."""
        return Recipient(
            delivery_id=delivery_id,
            journalist_id=journalist_id,
            email=email,
            name=name or "colleague",
            unsubscribe_url=self.link(
                Purpose.UNSUBSCRIBE, journalist_id, {"digest": digest} if digest else None
            ),
            preferences_url=self.link(Purpose.PREFERENCES, journalist_id),
            in_reply_to=in_reply_to,
            return_path=(
                # The sender's domain, parsed once: parsing the address costs more than
                # signing the VERP part, for every message.
                f"{self.signer.verp_local_part(delivery_id)}@{self.sender.domain}"
                if delivery_id > 0
                else ""
            ),
        )

    def rendered(self, item: Item, language: str = "en", zone: str = "UTC") -> RenderedItem:
        """Render once per item version, language and zone; keep the last few (CSS inlining
        costs). ``zone`` matters only to an email that names a time (see needs_zone).

        The words are the translation for ``language`` when the item has one, read at
        each call: its key is part of the cache's, so a translation added or edited
        since reaches every delivery rendered after it."""
        version = self.versions([item], language).get(item.id)
        key = (
            item.id,
            item.updated_at,
            item.status,
            language,
            zone,
            version.key if version else "",
        )
        with self._render_lock:
            cached = self._rendered.get(key)
            if cached is not None:
                self._rendered.move_to_end(key)
                return cached
        rendered = render_item(
            self.templates_for(language),
            item,
            self.taxonomy,
            self.sender,
            self.settings.base_url,
            language,
            zone,
            self.rich_content([item])[item.id],
            track_clicks=self.settings.track_clicks != "off",
            track_opens=self.settings.track_opens == "on",
            version=version,
        )
        with self._render_lock:
            self._rendered[key] = rendered
            while len(self._rendered) > 64:
                self._rendered.popitem(last=False)
        return rendered

    def versions(self, items: list[Item], language: str) -> dict[int, TextVersion]:
        """The translations readers of ``language`` get, by item id (items without one:
        the original), read like :meth:`rich_content`."""
        session = object_session(items[0]) if items else None
        if session is not None:
            return translations.versions_for(session, items, language)
        with self.sessions() as own:
            return translations.versions_for(own, items, language)

    def rich_content(self, items: list[Item]) -> dict[int, RichContent]:
        """The items' photos, documents, notes and contacts: read in the items' own
        session when they have one (a batch's, a request's), else in a short one."""
        base_url = self.settings.media_base_url
        session = object_session(items[0]) if items else None
        if session is not None:
            return load_rich(session, items, base_url)
        with self.sessions() as own:
            return load_rich(own, items, base_url)

    def transport(self) -> SmtpTransport:
        """This thread's connection to the relay, kept open across batches."""
        transport: SmtpTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            s = self.settings
            transport = SmtpTransport(
                s.smtp, s.smtp_timeout_seconds, max_messages=s.smtp_messages_per_connection
            )
            self._local.transport = transport
        return transport

    def close_transport(self) -> None:
        """Say QUIT to the relay (at a worker process's shutdown)."""
        transport: SmtpTransport | None = getattr(self._local, "transport", None)
        if transport is not None:
            transport.close()

    def dispose(self) -> None:
        """In a freshly forked child: drop what belongs to the parent's sockets."""
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)
        # Not closed: a QUIT would go down the parent's socket.
        self._local = local()
