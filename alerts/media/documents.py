"""Documents recognised by their content, never by their name alone.

An executable renamed ``report.pdf`` must not go out to journalists as a report.
DOCX, XLSX and ODT are ZIP archives; their members say which one a file is.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from alerts.media.refusal import MediaRefused


@dataclass(frozen=True)
class DocumentType:
    label: str  # shown to readers: "Full report (PDF, 2.4 MB)"
    content_type: str
    extensions: tuple[str, ...]


PDF = DocumentType("PDF", "application/pdf", (".pdf",))
DOCX = DocumentType(
    "DOCX",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
)
XLSX = DocumentType(
    "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)
)
ODT = DocumentType("ODT", "application/vnd.oasis.opendocument.text", (".odt",))
ZIP = DocumentType("ZIP", "application/zip", (".zip",))
CSV = DocumentType("CSV", "text/csv", (".csv",))
ACCEPTED = "PDF, DOCX, ODT, XLSX, CSV or ZIP"


def _zip_kind(data: bytes) -> DocumentType:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if (
                "mimetype" in names
                and archive.read("mimetype").strip() == ODT.content_type.encode()
            ):
                return ODT
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise MediaRefused("The archive is damaged or incomplete.") from exc
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return DOCX
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return XLSX
    return ZIP


def _is_csv(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return "," in text or ";" in text or "\t" in text


def identify(data: bytes, filename: str) -> DocumentType:
    """The document's type from its bytes; its name's extension must agree."""
    if data.startswith(b"%PDF-"):
        kind = PDF
    elif data.startswith(b"PK\x03\x04"):
        kind = _zip_kind(data)
    elif _is_csv(data):
        kind = CSV
    else:
        raise MediaRefused(f"Not a document of an accepted type ({ACCEPTED}).")
    suffix = PurePath(filename).suffix.lower()
    if suffix and suffix not in kind.extensions:
        raise MediaRefused(
            f"The file is named {suffix} but its content is {kind.label}; rename it or check it."
        )
    return kind


def human_size(size: int) -> str:
    """ "2.4 MB", "830 KB": decimal units, as file managers and mail clients show them."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"
