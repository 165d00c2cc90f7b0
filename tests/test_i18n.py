"""Every piece of text has its Spanish and French translations, with the same placeholders."""

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


def _catalog(name: str):  # type: ignore[no-untyped-def]
    path = resources.files("alerts").joinpath(name)
    with path.open("rb") as handle:
        return read_po(handle)


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
    catalogue = _catalog(f"locale/{language}/LC_MESSAGES/messages.po")
    translated = {m.id: m.string for m in catalogue if m.id}
    assert wanted - translated.keys() == set(), "run `make messages` and translate"
    # A plural entry is translated in every form the language has (Spanish, French: three).
    assert [m for m in wanted if not all(_forms(translated[m]))] == []
    for msgid in wanted:
        placeholders = {tuple(sorted(re.findall(r"%\(\w+\)[sd]", form))) for form in _forms(msgid)}
        for form in _forms(translated[msgid]):
            assert tuple(sorted(re.findall(r"%\(\w+\)[sd]", form))) in placeholders, msgid


def _forms(message: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (message,) if isinstance(message, str) else tuple(message)


def test_language_negotiation() -> None:
    assert negotiate("es-MX,es;q=0.9,en;q=0.8") == "es"
    assert negotiate("de-DE,de;q=0.9") == "en"
    assert negotiate("fr", preferred="es") == "es"
    assert negotiate(None) == "en"
    assert translations("es").gettext("Subscribe") == "Suscribirse"
