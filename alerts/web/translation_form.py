"""One language's translation as a staff form sends it: the same fields, the same reading.

Shared by the item's translations page (``staff_translations``: one form per
language) and the compose page's language tabs (``compose_translations``: many
languages in the one form of a new item), so both hand ``items.translations``
the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

# The words a staff form gives for one language (document titles: the API only).
WORDS = ("title", "summary", "body", "image_alt", "image_caption", "notes")


def words(given: Mapping[str, str]) -> dict[str, str]:
    """The words to store: a field left empty is the original's (as a field left out of the
    API's body), except the title, which a translation always has (empty: refused)."""
    return {
        name: value
        for name, value in given.items()
        if name in WORDS and (value.strip() or name == "title")
    }


def blank() -> dict[str, str]:
    """A language's form with nothing typed yet."""
    return dict.fromkeys(WORDS, "")
