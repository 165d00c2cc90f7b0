"""Link tokens never reach a log line.

A token in a path (``/u/…``, ``/preferences/…``, ``/confirm/…``) is the only
credential its page asks for, so an access log that kept it would let anyone
who reads the log act for the journalist. The filter rewrites the record before
any handler formats it: ``/preferences/eyJ…/profile`` becomes
``/preferences/[token]/profile``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Every public route whose first segment after one of these is a token
# (alerts/web/public.py). Matched anywhere in a line, so absolute links are caught too.
TOKEN_ROUTES = ("u", "confirm", "preferences")
REDACTED = "[token]"
_TOKEN_SEGMENT = re.compile(rf"(/(?:{'|'.join(TOKEN_ROUTES)})/)[^/?#\s\"'<>]+")


def redact(text: str) -> str:
    return _TOKEN_SEGMENT.sub(rf"\g<1>{REDACTED}", text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """On a handler: applies to every record it writes, from any logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        # The arguments keep their shape: uvicorn's access formatter unpacks a
        # 5-tuple (client, method, path, version, status).
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text once set, so the traceback is redacted too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Add the filter to each of the logger's handlers (once)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up, with the filter on every handler.

    The root logger gets uvicorn's default handler too, so the application's
    own records (which would otherwise go to Python's last-resort handler,
    unfiltered) pass through the filter as well.
    """
    from copy import deepcopy

    from uvicorn.config import LOGGING_CONFIG

    config = deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_tokens"]
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
