"""Images checked by Pillow, re-encoded from their pixels alone, resized for email and web.

A press office's photo can carry where it was taken (GPS), the camera's serial and
the editor's software in EXIF, XMP, IPTC or an ICC profile. Nothing of the upload's
file is kept: the pixels are copied into a new image and encoded afresh, so no
metadata block can survive, whatever format it hid in.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from alerts.media.refusal import MediaRefused

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# Far above any press photo (a 60-megapixel camera), far below a decompression bomb.
MAX_PIXELS = 64_000_000
# Email column and its double size for high-density screens; the web page's size.
WIDTHS = {"email": 600, "email2x": 1200, "web": 1600}
JPEG_QUALITY = 85
TOO_LARGE = f"The image is too large: at most {MAX_PIXELS // 1_000_000} megapixels are accepted."


@dataclass(frozen=True)
class Variant:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class CleanImage:
    """The original's size and the cleaned, resized variants by name (``WIDTHS``)."""

    width: int
    height: int
    variants: dict[str, Variant]


def _open(data: bytes) -> Image.Image:
    # Pillow warns (and past twice its limit raises) on decompression bombs; both
    # refuse here, as does our own, lower pixel limit checked before any decoding.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise MediaRefused(TOO_LARGE)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaRefused(TOO_LARGE) from exc
        except UnidentifiedImageError as exc:
            raise MediaRefused("Not a JPEG, PNG, GIF or WebP image (SVG is not accepted).") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise MediaRefused("The image file is damaged or incomplete.") from exc
    return image


def _pixels_only(image: Image.Image) -> tuple[Image.Image, bool]:
    """A new image holding only the pixels (upright), and whether it needs transparency."""
    upright = ImageOps.exif_transpose(image) or image
    alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    mode = "RGBA" if alpha else "RGB"
    converted = upright.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes()), alpha


def _encode(image: Image.Image, alpha: bool) -> tuple[bytes, str]:
    out = io.BytesIO()
    if alpha:  # mail clients show PNG transparency; JPEG has none
        image.save(out, "PNG", optimize=True)
        return out.getvalue(), "image/png"
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), "image/jpeg"


def clean_image(data: bytes) -> CleanImage:
    """The upload checked and cleaned, or ``MediaRefused`` saying why not."""
    pixels, alpha = _pixels_only(_open(data))
    variants = {}
    for name, width in WIDTHS.items():
        sized = pixels
        if pixels.width > width:  # never enlarged
            height = max(1, round(pixels.height * width / pixels.width))
            sized = pixels.resize((width, height), Image.Resampling.LANCZOS)
        encoded, content_type = _encode(sized, alpha)
        variants[name] = Variant(encoded, content_type, sized.width, sized.height)
    return CleanImage(pixels.width, pixels.height, variants)
