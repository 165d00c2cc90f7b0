"""The languages a journalist may choose (ALERTS_READER_LANGUAGES).

Wider than the frame's catalogues (`i18n.LANGUAGES`): a reader of Persian gets the
Persian translation of an item with English labels around it. Codes are checked
against Babel at start-up, so a typo stops the service instead of a sign-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from babel import Locale, UnknownLocaleError

from alerts.core.i18n import LANGUAGES as CATALOGUE_LANGUAGES

DEFAULT = "en,es,fr,ar"
# The same tags the translations take (`items.translations.check_language`).
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def parse(value: str) -> tuple[str, ...]:
    """Comma-separated codes → the catalogue languages first, then the others in order.

    ValueError names the first code that is malformed or unknown to Babel.
    """
    codes = [part.strip() for part in value.split(",") if part.strip()]
    for code in codes:
        if not _CODE.match(code):
            raise ValueError(f"{code[:20]!r} is not a language code (ar, fa, pt-BR)")
        try:
            Locale.parse(code.replace("-", "_"))
        except (UnknownLocaleError, ValueError) as exc:
            raise ValueError(f"{code!r} is no language Babel knows") from exc
    return tuple(dict.fromkeys([*CATALOGUE_LANGUAGES, *codes]))


def own_names(codes: Iterable[str]) -> dict[str, str]:
    """Each language by its own name (``ar`` → ``العربية``), for a select."""
    names = {}
    for code in codes:
        locale = Locale.parse(code.replace("-", "_"))
        name = locale.get_display_name(locale) or code
        names[code] = name[:1].upper() + name[1:]
    return names


def unknown_language(language: str, allowed: Iterable[str]) -> str:
    """The one message for a language outside the list (CSV import, preferences)."""
    return f"unknown language {language[:20]!r} (one of {', '.join(allowed)})"
