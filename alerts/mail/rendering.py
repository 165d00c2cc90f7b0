"""Turning an item into emails: Jinja2 once per item, cheap substitution per recipient."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.utils import formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
from babel.dates import format_date
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

from alerts.core.click_tokens import ClickSigner
from alerts.core.embargo_links import EmbargoLinks
from alerts.core.i18n import N_, comma, direction, frame_language, translations
from alerts.core.models import NOTICE_KINDS, Item, ItemStatus, NoticeKind, utcnow
from alerts.core.taxonomy import Taxonomy, localised_countries
from alerts.core.text_versions import TextVersion, link_language
from alerts.mail.dkim import DkimKey, DkimSigner
from alerts.mail.markdown_body import render_body
from alerts.mail.rich_blocks import PLAIN, RichContent, photo_line, rich_context, translated

# One wire policy (CRLF) for every message: the skeleton's. Account emails take it from here.
from alerts.mail.skeleton import WIRE_POLICY as WIRE_POLICY
from alerts.mail.skeleton import MessageSkeleton, address_line, header_line, qp_encode
from alerts.mail.tracked_links import rewrite

# Quoted-printable keeps the bodies readable to humans and content filters alike.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

KIND_LABELS = {
    "press_release": N_("Press release"),
    "report": N_("Report"),
    "statement": N_("Statement"),
    "news": N_("News"),
}


def default_templates_dir() -> Path:
    """The package's own templates: inside the wheel, or at the repository top."""
    here = Path(__file__).resolve().parent.parent  # the alerts package
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "email").is_dir():
            return candidate
    raise FileNotFoundError("the email templates are missing from this installation")


def make_environment(custom_dir: Path | None = None, language: str = "en") -> Environment:
    """A press office's folder comes first, so it can override any single template."""
    loaders = [FileSystemLoader(str(custom_dir))] if custom_dir else []
    loaders.append(FileSystemLoader(str(default_templates_dir())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # New-style gettext: placeholders are filled and escaped by Jinja itself.
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    # For text that arrives as data (labels, page titles): translated, not formatted,
    # and escaped like any other value (``_`` returns markup-safe strings).
    env.globals["t"] = translations(language).gettext
    env.globals["direction"] = direction
    env.globals["dir_attr"] = dir_attr
    env.globals["comma"] = comma(language)
    return env


@pass_context
def dir_attr(context: Context, language: str) -> Markup:
    """The ``dir`` of words in ``language`` inside a page or email whose ``lang`` is the
    frame's: `` dir="rtl"`` for a right-to-left language, `` dir="ltr"`` for a
    left-to-right one inside a right-to-left frame (an English release on an Arabic
    page would otherwise inherit ``rtl``), else nothing: ``ltr`` is inherited."""
    if direction(language) == "rtl":
        return Markup(' dir="rtl"')
    frame = context.get("lang")
    if isinstance(frame, str) and direction(frame) == "rtl":
        return Markup(' dir="ltr"')
    return Markup("")


def header_safe(value: str) -> str:
    """A user-supplied value fit for a header: CR/LF and other controls become a space."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    journalist_id: int
    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str
    # For a correction: the Message-ID of the original this journalist received.
    in_reply_to: str | None = None
    # The envelope sender (VERP): bounces come back to an address naming the delivery.
    return_path: str = ""


@dataclass(frozen=True)
class Sender:
    from_address: str
    reply_to: str
    domain: str
    secret: str
    list_id: str
    dkim: DkimKey | DkimSigner | None = None

    def finish(self, message: bytes, body_hash: bytes | None = None) -> bytes:
        """Last step for every outgoing message: the DKIM signatures, when configured
        (``body_hash``: the canonical body's SHA-256, when the caller has it)."""
        return self.dkim.sign(message, body_hash=body_hash) if self.dkim is not None else message

    @property
    def display_name(self) -> str:
        return parseaddr(self.from_address)[0]

    @property
    def bounce_address(self) -> str:
        """The envelope sender (MAIL FROM): where bounces go."""
        return parseaddr(self.from_address)[1]

    def message_id(self, item_id: int, delivery_id: int) -> str:
        """Stable for a delivery across retries, so a rare duplicate can be spotted."""
        tag = hmac.new(self.secret.encode(), f"{item_id}.{delivery_id}".encode(), hashlib.sha256)
        return f"<alert.{item_id}.{delivery_id}.{tag.hexdigest()[:12]}@{self.domain}>"

    def digest_message_id(self, digest_id: int) -> str:
        tag = hmac.new(self.secret.encode(), f"digest.{digest_id}".encode(), hashlib.sha256)
        return f"<digest.{digest_id}.{tag.hexdigest()[:12]}@{self.domain}>"


FIELDS = ("name", "unsubscribe_url", "preferences_url")


class RenderedItem:
    """An item rendered once (text and CSS-inlined HTML) with per-recipient markers.

    The markers carry a random nonce so that no text in an item can forge one.
    """

    def __init__(
        self,
        item_id: int,
        subject: str,
        text: str,
        html: str,
        nonce: str,
        links: tuple[str, ...] = (),
        clicks: ClickSigner | None = None,
        language: str = "en",
        opens: bool = False,
    ) -> None:
        self.item_id = item_id
        self.subject = subject
        self._text = text
        self._html = html
        self._pattern = re.compile(rf"@@{nonce}\.({'|'.join(FIELDS)}|c[0-9]+)@@")
        # Click-through links: the targets by number (1 first), and what fills them in.
        self.links = links
        self.language = language
        self._clicks = clicks
        # Slot c0 is the open-tracking image's, when there is one.
        self._click_prefixes = [
            (f"c{n}", ClickSigner.prefix(item_id, language, n).encode("ascii"))
            for n in range(0 if opens else 1, len(links) + 1)
        ]
        # Wire-format skeletons by (subject, sender): a copy with another subject
        # (the [TEST] send) gets its own.
        self._skeletons: dict[tuple[str, Sender], MessageSkeleton] = {}

    def click_values(self, delivery_id: int) -> dict[str, bytes]:
        """Each link's per-recipient token part (ASCII digits, letters, ``-_.``: no
        escaping or quoted-printable needed, and the same in the text and the HTML)."""
        clicks = self._clicks
        if clicks is None:
            return {}
        sign = clicks.suffix_bytes
        return {slot: sign(prefix, delivery_id) for slot, prefix in self._click_prefixes}

    def bodies(self, recipient: Recipient) -> tuple[str, str]:
        values = {f: getattr(recipient, f) for f in FIELDS} | {
            slot: value.decode("ascii")
            for slot, value in self.click_values(recipient.delivery_id).items()
        }
        text = self._pattern.sub(lambda m: values[m.group(1)], self._text)
        html = self._pattern.sub(lambda m: str(escape(values[m.group(1)])), self._html)
        return text, html

    def skeleton(self, sender: Sender) -> MessageSkeleton:
        key = (self.subject, sender)
        found = self._skeletons.get(key)
        if found is None:
            display_name, address = parseaddr(sender.from_address)
            found = MessageSkeleton(
                b"".join(
                    [
                        header_line("Subject", self.subject),
                        address_line("From", display_name, address),
                        header_line("Reply-To", sender.reply_to),
                        header_line("List-Id", sender.list_id),
                        header_line("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                        # Bulk mail: auto-responders stay quiet (RFC 3834 honours this).
                        header_line("Precedence", "bulk"),
                    ]
                ),
                self._text,
                self._html,
                self._pattern,
            )
            self._skeletons[key] = found
        return found


def item_context(
    item: Item,
    taxonomy: Taxonomy,
    language: str = "en",
    rich: RichContent = PLAIN,
    version: TextVersion | None = None,
) -> dict[str, object]:
    """``rich``: the item's photo, documents, notes and contacts (mail/rich_blocks.py);
    ``version``: a translation's words in place of the original's (items/translations)."""
    names = localised_countries(language)
    gettext = translations(language).gettext
    published = item.published_at
    text = version.body_of(item) if version else item.body
    body = render_body(text)
    extras = rich_context(translated(rich, version), language, len(body.references) + 1)
    return extras | {
        "photo_line": photo_line(rich.photo) if rich.photo else "",
        "id": item.id,
        "title": version.title_of(item) if version else item.title,
        "summary": version.summary_of(item) if version else item.summary,
        "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()],
        # The Markdown body: safe HTML blocks, wrapped text blocks, the text's link list.
        "blocks": body.html,
        "text_blocks": body.text,
        "references": body.references,
        "url": item.url,
        "kind": gettext(KIND_LABELS.get(item.kind, item.kind.replace("_", " ").capitalize())),
        "campaign": item.campaign,
        "countries": sorted(names.get(c, c) for c in item.countries),
        "topics": [gettext(taxonomy.topics.get(t, t)) for t in item.topics],
        "published": (
            f"{format_date(published, 'long', locale=language)}{comma(language)}"
            f"{published:%H:%M} UTC"
            if published
            else ""
        ),
        # The words' language (a translation's, else the original's): lang and dir.
        "language": version.language if version else item.language,
    }


def local_and_utc(when: datetime, zone: str, language: str) -> str:
    """ "3 December 2026, 10:00 CET (09:00 UTC)": the reader's clock first, then UTC.

    The UTC part repeats the date only when it differs from the local one.
    """
    local = when.astimezone(ZoneInfo(zone))
    sep = comma(language)
    text = f"{format_date(local, 'long', locale=language)}{sep}{local:%H:%M} {local.tzname()}"
    if zone == "UTC":
        return text
    utc = when.astimezone(UTC)
    day = "" if utc.date() == local.date() else f"{format_date(utc, 'long', locale=language)}{sep}"
    return f"{text} ({day}{utc:%H:%M} UTC)"


def needs_zone(item: Item) -> bool:
    """Whether the item's email names a time, so it differs by the reader's time zone."""
    return item.status == ItemStatus.EMBARGOED or item.kind == NoticeKind.EMBARGO_MOVED


def _notice_context(item: Item, zone: str, language: str, title: str) -> tuple[str, dict[str, str]]:
    """Subject and wording of a notice about an embargoed item, in the reader's language."""
    gettext = translations(language).gettext
    title = header_safe(title)
    if item.kind == NoticeKind.WITHDRAWAL:
        return gettext("Withdrawn: %(title)s") % {"title": title}, {
            "heading": gettext("This release is withdrawn"),
            "text": gettext(
                "The embargoed release below has been withdrawn. Please do not publish it "
                "or anything from it; the embargo now applies without end."
            ),
        }
    if item.kind == NoticeKind.EMBARGO_LIFTED:
        return gettext("Embargo lifted: %(title)s") % {"title": title}, {
            "heading": gettext("The embargo is lifted"),
            "text": gettext("The release below may be published now."),
        }
    until = local_and_utc(item.embargo_until or utcnow(), zone, language)
    return gettext("Embargo moved: %(title)s") % {"title": title}, {
        "heading": gettext("The embargo has moved"),
        "text": gettext("The release below is now under embargo until %(when)s.") % {"when": until},
    }


def web_url(item: Item, base_url: str, language: str, secret: str | None = None) -> str | None:
    """The item's newsroom page, in the reader's language; the same for every reader of
    one language, so it is part of the skeleton. A notice has no page of its own.

    ``/news/{id}`` redirects to the address with the title in it: the link in the
    email stays right whatever the page's address becomes.
    """
    if item.kind in NOTICE_KINDS:
        return None
    url = f"{base_url.rstrip('/')}/news/{item.id}?lang={language}"
    if secret is not None and item.status == ItemStatus.EMBARGOED and item.embargo_until:
        # Before the lift only this signed link opens the page (see embargo_links).
        url += f"&t={EmbargoLinks(secret).sign(item.id, item.embargo_until)}"
    return url


def render_item(
    env: Environment,
    item: Item,
    taxonomy: Taxonomy,
    sender: Sender,
    base_url: str,
    language: str = "en",
    zone: str = "UTC",
    rich: RichContent = PLAIN,
    track_clicks: bool = False,
    track_opens: bool = False,
    version: TextVersion | None = None,
) -> RenderedItem:
    """The item's email in ``language``; ``zone``: the reader's, for the times it names;
    ``rich``: its photo, documents, notes and contacts, read once with the item;
    ``version``: the translation a reader of ``language`` gets (None: the original).

    ``track_clicks``: every http(s) link goes through ``BASE_URL/c/TOKEN`` (tracked_links).
    ``track_opens``: a 1x1 image at ``BASE_URL/o/TOKEN`` (off by default: unreliable).
    """
    nonce = secrets.token_hex(8)
    # Labels and dates in the frame's language; the words, links and web page in the
    # reader's (``version`` was chosen for it).
    frame = frame_language(language)
    title = version.title_of(item) if version else item.title
    subject = header_safe(title)
    embargo = None
    notice = None
    if item.kind in set(NoticeKind):
        subject, notice = _notice_context(item, zone, frame, title)
    elif item.status == ItemStatus.EMBARGOED and item.embargo_until is not None:
        when = local_and_utc(item.embargo_until, zone, frame)
        embargo = translations(frame).gettext("EMBARGOED UNTIL %(when)s") % {"when": when}
        subject = f"{embargo}: {subject}"
    context = {
        "item": item_context(item, taxonomy, frame, rich, version)
        | {
            "embargo": embargo,
            "notice": notice,
            "web_url": web_url(item, base_url, language, sender.secret),
        },
        "recipient": {f: f"@@{nonce}.{f}@@" for f in FIELDS},
        "press": {"name": parseaddr(sender.from_address)[0], "reply_to": sender.reply_to},
        "base_url": base_url,
        "lang": frame,  # the chrome's language, for <html lang>
    }
    template = "email/notice" if notice else "email/item"
    text = env.get_template(f"{template}.txt").render(context)
    html = css_inline.inline(env.get_template(f"{template}.html").render(context))
    if not track_clicks and not track_opens:
        return RenderedItem(item.id, header_safe(subject), text, html, nonce)
    links: tuple[str, ...] = ()
    # A translation's links are numbered apart from the original's in the same language.
    links_key = link_language(language, version)
    if track_clicks:
        text, html, links = rewrite(text, html, base_url, item.id, links_key, f"@@{nonce}.c%d@@")
    if track_opens:
        html = _with_open_image(html, base_url, item.id, links_key, nonce)
    clicks = ClickSigner(sender.secret)
    return RenderedItem(
        item.id, header_safe(subject), text, html, nonce, links, clicks, links_key, track_opens
    )


def _with_open_image(html: str, base_url: str, item_id: int, language: str, nonce: str) -> str:
    prefix = ClickSigner.prefix(item_id, language, 0)
    image = (
        f'<img src="{base_url.rstrip("/")}/o/{prefix}@@{nonce}.c0@@" width="1" height="1" '
        'alt="" style="display:block;border:0;width:1px;height:1px">'
    )
    at = html.rfind("</body>")
    return html + image if at < 0 else html[:at] + image + html[at:]


@lru_cache(maxsize=2)
def _date_line(second: int) -> bytes:
    """The Date header for this second (it names no finer time): formatted once per
    second, not once per message."""
    return header_line("Date", formatdate(second, usegmt=True))


def build_message(
    rendered: RenderedItem, recipient: Recipient, sender: Sender, message_id: str | None = None
) -> bytes:
    """The recipient's email as wire bytes (CRLF), DKIM-signed when a key is configured."""
    skeleton = rendered.skeleton(sender)
    name = " ".join(recipient.name.split())
    text_values = {
        "name": qp_encode(name),
        "unsubscribe_url": qp_encode(recipient.unsubscribe_url),
        "preferences_url": qp_encode(recipient.preferences_url),
    }
    html_values = {
        # As str: Markup's own replace() (qp_encode's) would escape its arguments too.
        "name": qp_encode(str(escape(name))),
        "unsubscribe_url": qp_encode(str(escape(recipient.unsubscribe_url))),
        "preferences_url": qp_encode(str(escape(recipient.preferences_url))),
    }
    clicks = rendered.click_values(recipient.delivery_id)
    text_values |= clicks
    html_values |= clicks
    headers = [
        address_line("To", header_safe(recipient.name), recipient.email),
        _date_line(int(time.time())),
        header_line(
            "Message-ID", message_id or sender.message_id(rendered.item_id, recipient.delivery_id)
        ),
        header_line("List-Unsubscribe", f"<{recipient.unsubscribe_url}>"),
    ]
    if recipient.in_reply_to:
        # Threads the correction under the original in the journalist's mailbox.
        headers.append(header_line("In-Reply-To", recipient.in_reply_to))
        headers.append(header_line("References", recipient.in_reply_to))
    message = skeleton.assemble(b"".join(headers), text_values, html_values)
    if sender.dkim is None:
        return message
    return sender.finish(message, skeleton.body_hash(text_values, html_values))
