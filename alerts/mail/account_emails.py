"""Emails about a journalist's subscription itself (confirm, already subscribed)."""

from __future__ import annotations

import uuid
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

import css_inline
from jinja2 import Environment

from alerts.audience.membership import Notice
from alerts.core.i18n import N_, frame_language, translations
from alerts.mail.rendering import UTF8_QP, WIRE_POLICY, Sender, header_safe

SUBJECTS = {
    Notice.CONFIRM: N_("Confirm your subscription to press alerts"),
    Notice.ALREADY: N_("You are already subscribed to press alerts"),
    Notice.PREFERENCES: N_("Your new link to your press alerts preferences"),
}


def build_notice(
    env: Environment,
    sender: Sender,
    notice: Notice,
    *,
    language: str,
    email: str,
    name: str,
    link: str,
) -> bytes:
    """One message, rendered for one person (these are few; no per-item caching).

    A confirmation goes to whatever address was typed on the sign-up form, so
    nothing else typed there (name, outlet) may appear in it: the form would
    otherwise mail our text, with a stranger's words in it, to anybody.
    """
    language = frame_language(language)  # these emails are all labels: the frame's
    subject = translations(language).gettext(SUBJECTS[notice])
    if notice is Notice.CONFIRM:
        name = ""
    context = {
        "lang": language,
        "subject": subject,
        "name": name or email,
        "press": {"name": sender.display_name, "reply_to": sender.reply_to},
        "confirm_url": link,
        "preferences_url": link,
    }
    text = env.get_template(f"email/{notice.value}.txt").render(context)
    html = css_inline.inline(env.get_template(f"email/{notice.value}.html").render(context))
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]
    message["From"] = sender.from_address
    message["To"] = formataddr((header_safe(name), email), charset="utf-8")
    message["Reply-To"] = sender.reply_to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<notice.{notice.value}.{uuid.uuid4().hex}@{sender.domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.attach(MIMEText(text, "plain", UTF8_QP))  # type: ignore[arg-type]
    message.attach(MIMEText(html, "html", UTF8_QP))  # type: ignore[arg-type]
    return sender.finish(message.as_bytes(policy=WIRE_POLICY))
