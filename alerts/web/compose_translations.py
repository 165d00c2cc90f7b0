"""The compose page's language tabs: a new item's translations typed in its own form.

Each tab is one language's words, sent in the same multipart form as the
original under ``tr{n}_`` names (``tr0_language``, ``tr0_title``…). The page
offers a tab for every language the office publishes in
(``ALERTS_READER_LANGUAGES``) but the original's, and one more whose code staff
type. A tab left empty is no translation. The filled ones are checked here,
each problem named on its own field, then go into the draft's ``translations``
so that ``drafts.create_item`` stores them with the item, in its transaction:
one refused translation and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.items import translations
from alerts.items.translations import InvalidTranslation
from alerts.web import translation_form
from alerts.web.compose_form import LISTS, FieldError, RawCompose

# More tabs than any office's list: a form claiming more is refused, not read on.
MAX_TABS = 60


@dataclass
class Tab:
    """One language's tab as the page shows it; ``fixed``: the language is the office's
    (a hidden field), else staff type its code."""

    index: int
    language: str
    fixed: bool
    words: dict[str, str] = field(default_factory=translation_form.blank)

    def id(self, name: str) -> str:
        """The field's id and name in the form (errors link to it)."""
        return f"tr{self.index}_{name}"

    @property
    def filled(self) -> bool:
        return any(value.strip() for value in self.words.values())

    @property
    def lang(self) -> str:
        """The code for the tab's ``lang`` attributes: a known language only, never the
        code as typed (an unknown tag in ``lang`` misleads screen readers)."""
        if self.fixed:
            return self.language
        try:
            return translations.check_language(self.language)
        except InvalidTranslation:
            return ""


def _sent(raw: RawCompose) -> list[tuple[str, dict[str, str]]]:
    """Every language section the form sent, in its order."""
    found = []
    for n in range(MAX_TABS):
        if f"tr{n}_language" not in raw.values:
            continue
        typed = {name: raw.text(f"tr{n}_{name}") for name in translation_form.WORDS}
        found.append((raw.text(f"tr{n}_language").strip()[:20], typed))
    return found


def tabs(raw: RawCompose, offered: tuple[str, ...], original: str) -> list[Tab]:
    """The tabs to show and check: one per offered language (what was typed in it, if
    anything), then each section sent in another language, then one blank to type a code."""
    sent = _sent(raw)
    used: set[int] = set()
    shown: list[Tab] = []
    for code in offered:
        if code == original:
            continue
        tab = Tab(len(shown), code, fixed=True)
        for n, (language, typed) in enumerate(sent):
            if n not in used and language == code:
                used.add(n)
                tab.words = typed
                break
        shown.append(tab)
    for n, (language, typed) in enumerate(sent):
        if n not in used and (language or any(v.strip() for v in typed.values())):
            shown.append(Tab(len(shown), language, fixed=False, words=typed))
    if all(tab.fixed for tab in shown):
        shown.append(Tab(len(shown), "", fixed=False))
    return shown


def new_tabs(offered: tuple[str, ...], original: str) -> list[Tab]:
    """The tabs of a compose page not sent yet: every one empty."""
    return tabs(RawCompose({}, {name: [] for name in LISTS}, {}), offered, original)


def _where(tab: Tab, name: str | None) -> str:
    """The field a problem is about: the tab's own input, its title when it has none."""
    if name in translation_form.WORDS:
        return tab.id(name)
    return tab.id("title") if tab.fixed or name != "language" else tab.id("language")


def _message(code: str, exc: InvalidTranslation) -> str:
    if exc.field == "title" and "at least 1" in str(exc):
        return (
            f"Translation {code}: give it a title (any other field left empty is the original's)."
        )
    return f"Translation {code or '(no language)'}: {exc}"


def check(
    shown: list[Tab], fields: dict[str, Any], item_id: int | None
) -> tuple[list[FieldError], dict[str, dict[str, str]]]:
    """Each filled tab's problems, and the words of those without any, by language."""
    errors: list[FieldError] = []
    given: dict[str, dict[str, str]] = {}
    filled = [tab for tab in shown if tab.filled]
    if filled and item_id is not None:
        # The page of a saved item has no tabs: its translations page edits them.
        message = "A saved item's translations are added on its translations page."
        return [FieldError("", message)], {}
    for tab in filled:
        code = tab.language
        try:
            translations.check_language(code)
            if code == fields["language"]:
                raise InvalidTranslation(
                    f"{code!r} is the original's language: write it in the original", "language"
                )
            if code in given:
                raise InvalidTranslation(
                    "a second translation in that language: one tab per language", "language"
                )
            words = translation_form.words(tab.words)
            parsed = translations.parse_fields(words)
            if fields.get("image") is None:
                for name in ("image_alt", "image_caption"):
                    if getattr(parsed, name) is not None:
                        raise InvalidTranslation(f"{name}: the item has no photo", name)
        except InvalidTranslation as exc:
            errors.append(FieldError(_where(tab, exc.field), _message(code, exc)))
            continue
        given[code] = words
    return errors, given


def for_preview(
    given: dict[str, dict[str, str]], errors: list[FieldError], tab: Tab | None
) -> tuple[dict[str, dict[str, str]], list[FieldError]]:
    """What one tab's preview (or the original's: ``tab`` None) needs: the original's
    problems and its own, its own words only; other tabs' problems do not hold it up."""
    own = [e for e in errors if not e.field.startswith("tr")]
    if tab is None:
        return {}, own
    mine = [e for e in errors if e.field.startswith(f"tr{tab.index}_")]
    return ({tab.language: given[tab.language]} if tab.language in given else {}), own + mine
