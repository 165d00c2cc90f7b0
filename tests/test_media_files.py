"""Uploads checked by their content: photos cleaned of every metadata block, documents sniffed."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from alerts.media.documents import CSV, DOCX, ODT, PDF, XLSX, ZIP, human_size, identify
from alerts.media.images import MAX_PIXELS, clean_image
from alerts.media.refusal import MediaRefused

SERIAL = "CAM-SERIAL-0042"


def gps_jpeg(width: int = 2400, height: int = 1600) -> bytes:
    """A JPEG as a phone writes it: camera, serial number and GPS position in EXIF."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "Editor 1.0"  # Software
    exif.get_ifd(0x8769)[0xA431] = SERIAL  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (19.0, 26.0, 10.0)  # latitude
    gps[3], gps[4] = "W", (99.0, 8.0, 0.0)  # longitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at the safe house")
    return out.getvalue()


def test_a_gps_jpeg_loses_every_metadata_block_and_is_resized() -> None:
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the GPS is there
    assert SERIAL.encode() in original and b"Exif" in original

    cleaned = clean_image(original)
    assert (cleaned.width, cleaned.height) == (2400, 1600)
    sizes = {name: (v.width, v.height) for name, v in cleaned.variants.items()}
    assert sizes == {"email": (600, 400), "email2x": (1200, 800), "web": (1600, 1067)}
    for variant in cleaned.variants.values():
        assert variant.content_type == "image/jpeg"
        reopened = Image.open(io.BytesIO(variant.data))
        assert reopened.format == "JPEG"
        assert len(reopened.getexif()) == 0
        assert not {"exif", "icc_profile", "comment", "xmp"} & set(reopened.info)
        for marker in (
            b"Exif",
            b"GPS",
            SERIAL.encode(),
            b"PhoneMaker",
            b"safe house",
            b"http://ns.adobe.com",
        ):
            assert marker not in variant.data


def test_a_transparent_png_stays_png_and_a_small_image_is_never_enlarged() -> None:
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=None)
    cleaned = clean_image(out.getvalue())
    assert {v.content_type for v in cleaned.variants.values()} == {"image/png"}
    assert {(v.width, v.height) for v in cleaned.variants.values()} == {(300, 200)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "SVG"),
        (b"%PDF-1.7 not an image", "Not a JPEG, PNG, GIF or WebP"),
        (gps_jpeg()[:2000], "damaged or incomplete"),
    ],
    ids=["svg", "pdf", "truncated"],
)
def test_non_images_and_damaged_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(MediaRefused, match=message):
        clean_image(data)


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    # 20,000 by 20,000 pixels compress to a few hundred KB of PNG.
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    assert MAX_PIXELS < 20_000 * 20_000 and len(out.getvalue()) < 2_000_000
    with pytest.raises(MediaRefused, match="too large: at most 64 megapixels"):
        clean_image(out.getvalue())


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_documents_are_known_by_their_content() -> None:
    assert identify(b"%PDF-1.7\n...", "Facing Walls.pdf") is PDF
    assert identify(_zip({"[Content_Types].xml": b"", "word/document.xml": b""}), "a.docx") is DOCX
    assert identify(_zip({"[Content_Types].xml": b"", "xl/workbook.xml": b""}), "a.xlsx") is XLSX
    assert identify(_zip({"mimetype": ODT.content_type.encode()}), "annex.odt") is ODT
    assert identify(_zip({"photos/1.jpg": b"x"}), "annex.zip") is ZIP
    assert identify("country,cases\nMéxico,12\n".encode(), "figures.csv") is CSV
    assert human_size(2_400_000) == "2.4 MB" and human_size(830_000) == "830 KB"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50, "report.pdf", "Not a document"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "report.pdf", "Not a document"),
        (_zip({"[Content_Types].xml": b"", "word/document.xml": b""}), "report.pdf", "is DOCX"),
        (b"%PDF-1.7", "report.docx", "is PDF"),
        (b"PK\x03\x04broken", "annex.zip", "damaged"),
    ],
    ids=["windows-exe", "elf", "docx-named-pdf", "pdf-named-docx", "broken-zip"],
)
def test_executables_and_misnamed_files_are_refused(data: bytes, name: str, message: str) -> None:
    with pytest.raises(MediaRefused, match=message):
        identify(data, name)
