"""A small web page over the sink's Maildir: what was sent, without a mail client."""

from __future__ import annotations

import ipaddress
import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse
from markupsafe import escape


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the page on this machine."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _load(box: mailbox.Maildir, key: str) -> tuple[bytes, EmailMessage]:
    try:
        raw = box.get_bytes(key)
    except KeyError as exc:
        raise HTTPException(404, "no such message") from exc
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return raw, message


# Wide screens get a table; phones get one card per message, subject first.
_CSS = (
    "body{font:15px/1.4 system-ui,sans-serif;margin:16px;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%}"
    "td,th{padding:6px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
    "td.subject a{font-weight:600}td.meta{color:#666;white-space:nowrap}"
    "pre{white-space:pre-wrap;font-size:13px}"
    "pre.text{white-space:pre;overflow-x:auto;padding:8px;border:1px solid #ccc}"
    "iframe{width:100%;height:70vh;border:1px solid #ccc;box-sizing:border-box}"
    "@media (max-width:600px){body{margin:12px}thead{display:none}"
    "tr{display:flex;flex-direction:column;padding:8px 0;border-bottom:1px solid #ddd}"
    "td{border:0;padding:2px 0}td.subject{order:-1}td.meta{white-space:normal}}"
)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='color-scheme' content='light dark'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>",
        # Captured HTML is shown in a sandboxed frame: it may not run anything.
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
            "img-src data:; frame-ancestors 'self'"
        },
    )


def create_mailbox_app(maildir: Path) -> FastAPI:
    app = FastAPI(title="newsroom-alerts mailbox", docs_url=None, redoc_url=None, openapi_url=None)

    def box() -> mailbox.Maildir:
        return mailbox.Maildir(maildir, create=True)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        rows = []
        folder = box()
        for key in sorted(folder.iterkeys(), reverse=True)[:500]:
            _, message = _load(folder, key)
            subject = escape(str(message["Subject"] or "(no subject)"))
            rows.append(
                f"<tr><td class='meta'>{escape(str(message['Date'] or ''))}</td>"
                f"<td class='meta'>{escape(str(message['To'] or ''))}</td>"
                f"<td class='subject'><a href='/m/{escape(key)}'>{subject}</a></td></tr>"
            )
        table = "".join(rows) or "<tr><td colspan='3'>No messages yet.</td></tr>"
        return _page(
            "Mailbox",
            f"<h1>Mailbox</h1><p>{len(rows)} message(s) in {escape(str(maildir))}</p>"
            f"<table><thead><tr><th>date</th><th>to</th><th>subject</th></tr></thead>"
            f"<tbody>{table}</tbody></table>",
        )

    @app.get("/m/{key}", response_class=HTMLResponse)
    def show(key: str) -> HTMLResponse:
        raw, message = _load(box(), key)
        text = message.get_body(("plain",))
        plain = str(text.get_content()) if text else ""
        headers = "\n".join(f"{name}: {value}" for name, value in message.items())
        return _page(
            str(message["Subject"] or "message"),
            f"<p><a href='/'>← all messages</a></p><h1>{escape(str(message['Subject']))}</h1>"
            f"<h2>HTML</h2><iframe sandbox title='HTML part' src='/m/{escape(key)}/html'></iframe>"
            f"<h2>Text</h2><pre class='text'>{escape(plain)}</pre>"
            f"<h2>Headers</h2><pre>{escape(headers)}</pre>"
            f"<p><a href='/m/{escape(key)}/raw'>Raw source ({len(raw)} bytes)</a></p>",
        )

    @app.get("/m/{key}/html", response_class=HTMLResponse)
    def html_part(key: str) -> HTMLResponse:
        _, message = _load(box(), key)
        part = message.get_body(("html",))
        return HTMLResponse(
            str(part.get_content()) if part else "",
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "img-src data:; frame-ancestors 'self'"
            },
        )

    @app.get("/m/{key}/raw", response_class=PlainTextResponse)
    def raw_source(key: str) -> PlainTextResponse:
        raw, _ = _load(box(), key)
        return PlainTextResponse(raw.decode("utf-8", "replace"))

    return app
