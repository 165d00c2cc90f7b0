"""Every piece of text has its Spanish, French and Arabic translations, with the same
placeholders, in every plural form the language has."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from alerts.core.i18n import LANGUAGES, negotiate, translations

ROOT = Path(__file__).resolve().parent.parent


def _catalog(name: str, locale: str | None = None):  # type: ignore[no-untyped-def]
    path = resources.files("alerts").joinpath(name)
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def test_the_catalogues_are_english_spanish_french_and_arabic() -> None:
    # Every language with a catalogue file is offered, and no other.
    files = sorted(p.parent.parent.name for p in ROOT.glob("alerts/locale/*/LC_MESSAGES/*.po"))
    assert files == ["ar", "es", "fr"]
    assert list(LANGUAGES) == ["en", "es", "fr", "ar"]


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_catalogue_is_complete_and_current(tmp_path: Path, language: str) -> None:
    # Extract afresh from the sources: a string added without a translation fails here.
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-o",
            str(pot),
            "--no-location",
            "--omit-header",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    catalogue = _catalog(f"locale/{language}/LC_MESSAGES/messages.po", language)
    translated = {m.id: m.string for m in catalogue if m.id}
    assert wanted - translated.keys() == set(), "run `make messages` and translate"
    # The catalogue kept by the repository lists no string it lacks either.
    with (ROOT / "alerts/locale/messages.pot").open("rb") as handle:
        assert {m.id for m in read_po(handle) if m.id} - translated.keys() == set()
    assert [m.id for m in catalogue if m.id and m.fuzzy] == []
    # A plural entry is translated in every form the language has (Spanish, French:
    # three; Arabic: six, for 0, 1, 2, 3-10, 11-99 and 100-102).
    assert [m for m in wanted if not all(_forms(translated[m]))] == []
    plurals = [m for m in wanted if not isinstance(m, str)]
    assert plurals and all(len(translated[m]) == catalogue.num_plurals for m in plurals)
    for msgid in wanted:
        placeholders = {_placeholders(form) for form in _forms(msgid)}
        for form in _forms(translated[msgid]):
            assert _placeholders(form) in placeholders, msgid


def _placeholders(text: str) -> tuple[str, ...]:
    """``%(name)s`` and the scripts' ``{name}``: what is filled in must survive translation."""
    return tuple(sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", text)))


def _forms(message: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (message,) if isinstance(message, str) else tuple(message)


def test_language_negotiation() -> None:
    assert negotiate("es-MX,es;q=0.9,en;q=0.8") == "es"
    assert negotiate("de-DE,de;q=0.9") == "en"
    assert negotiate("fr", preferred="es") == "es"
    assert negotiate("ar-EG,ar;q=0.9,en;q=0.5") == "ar"
    assert negotiate("fa-IR,fa;q=0.9,he;q=0.8") == "en"  # no Persian or Hebrew catalogue
    assert negotiate(None) == "en"
    assert translations("es").gettext("Subscribe") == "Suscribirse"
