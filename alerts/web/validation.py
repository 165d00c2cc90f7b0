"""422 answers that can always be encoded, and never echo a whole upload.

FastAPI's own handler returns each error's ``input`` as it came. Python's JSON
parser accepts ``NaN`` and ``Infinity`` and lone surrogates (``"\\ud800"``),
none of which the JSON response can encode (a 500), and a 5 MB title came back
whole. Here every value is made encodable and long ones are cut.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_TEXT = 200  # characters of an echoed value
MAX_ITEMS = 20  # entries of an echoed list or object


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """UTF-8 encodable (lone surrogates replaced) and at most ``limit`` characters."""
    if len(value) > limit:
        value = f"{value[:limit]}… ({len(value)} characters)"
    return value.encode("utf-8", "replace").decode("utf-8")


def clean(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of ``value`` for an error message."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": named, not encoded as invalid JSON
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 3:
        return "…"
    if isinstance(value, dict):
        entries = list(value.items())
        out = {clean_text(str(k), 60): clean(v, depth + 1) for k, v in entries[:MAX_ITEMS]}
        if len(entries) > MAX_ITEMS:
            out["…"] = f"{len(entries) - MAX_ITEMS} more"
        return out
    if isinstance(value, list | tuple):
        items = [clean(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more")
        return items
    return clean_text(str(value))


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        entry: dict[str, Any] = {
            "loc": [clean_text(str(p), 60) if isinstance(p, str) else p for p in error["loc"]],
            "msg": clean_text(str(error.get("msg", "")), 1000),
            "type": clean_text(str(error.get("type", "")), 100),
        }
        if "input" in error:
            entry["input"] = clean(error["input"])
        if isinstance(error.get("ctx"), dict):
            entry["ctx"] = clean(error["ctx"])
        out.append(entry)
    return out


def validation_response(exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": clean_errors(exc.errors())}, status_code=422)


def is_path_error(exc: RequestValidationError) -> bool:
    """Every error is about the URL's path (an id out of range): the page is not there."""
    errors = exc.errors()
    return bool(errors) and all(e.get("loc", ("",))[0] == "path" for e in errors)
