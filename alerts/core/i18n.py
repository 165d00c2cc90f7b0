"""Translations (gettext catalogues compiled from .po files by Babel at start-up)."""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DEFAULT_LANGUAGE = "en"
# The frame's catalogues: labels, dates and footers in these languages, each page and
# email in its own direction (``ar`` right to left).
LANGUAGES = {"en": "English", "es": "Español", "fr": "Français", "ar": "العربية"}


# Scripts written right to left. A release may be in any language, whatever
# catalogues the frame has, so the direction is decided from its tag alone.
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "dv", "ckb", "sd", "ug"})


# What separates the items of a list, or a date from its time, where it is not ", ".
# (CLDR's Arabic list pattern joins with "و"; enumerations of names take the comma.)
_COMMAS = {"ar": "\u060c "}


def comma(language: str) -> str:
    """``", "``, or the language's own comma (Arabic ``،``) and a space."""
    return _COMMAS.get(language, ", ")


def direction(language: str) -> str:
    """``rtl`` for a right-to-left language (``ar``, ``fa-IR``, ``he_IL``), else ``ltr``."""
    primary = language.replace("_", "-").split("-")[0].lower()
    return "rtl" if primary in RTL_LANGUAGES else "ltr"


def frame_language(language: str) -> str:
    """The language of a page's or email's labels and dates: the reader's when we have
    its catalogue, else English (a reader of Persian still gets the Persian words of an
    item, in their own ``lang``/``dir``, inside an English frame)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def N_(message: str) -> str:
    """Marks text for extraction (`make messages`) where it is defined; translated later."""
    return message


# Text that reaches templates as data, listed here so extraction finds it.
DATA_MESSAGES = (
    N_("Africa"),
    N_("Antarctica"),
    N_("Americas"),
    N_("Asia"),
    N_("Europe"),
    N_("North America"),
    N_("Oceania"),
    N_("South America"),
    N_("immediate"),
    N_("daily"),
    N_("weekly"),
)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue for a language; English (the source language) needs none."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    po = resources.files("alerts").joinpath(f"locale/{language}/LC_MESSAGES/messages.po")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    result: gettext.NullTranslations = Translations(compiled)
    return result


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The journalist's own language if we have it, else the browser's, else English."""
    if preferred in LANGUAGES:
        return preferred
    wanted = []
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag and tag != "*":
            wanted.append(tag)
    try:
        best = Locale.negotiate(wanted, list(LANGUAGES), sep="_")
    except (ValueError, UnknownLocaleError):
        best = None
    return str(best.language) if best else DEFAULT_LANGUAGE
