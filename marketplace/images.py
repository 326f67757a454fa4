"""Verification and re-encoding of uploaded images (avatars; listing photos use the same path).

An upload is never stored as sent: it is decoded with Pillow, checked (real image, allowed
format, byte and pixel limits, no decompression bomb), optionally shrunk, and written again
from raw pixels. The copy keeps no EXIF (GPS position, camera serial), XMP, ICC profile or
comment, and whatever trailing bytes the sender appended never reach storage.
"""

from dataclasses import dataclass
from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format name -> (file extension, content type).
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
DEFAULT_FORMATS = ("JPEG", "PNG", "WEBP")
SAVE_OPTIONS = {
    "JPEG": {"quality": 85, "optimize": True, "progressive": True},
    "PNG": {"optimize": True},
    "WEBP": {"quality": 85, "method": 4},
}


@dataclass(frozen=True)
class CleanImage:
    """A re-encoded image, ready for storage."""

    content: bytes
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]

    def as_file(self) -> ContentFile:
        return ContentFile(self.content)


def _format_names(formats) -> str:
    names = [("WebP" if name == "WEBP" else name) for name in formats]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def clean_uploaded_image(
    upload,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    max_side: int | None = None,
) -> CleanImage:
    """Verify an uploaded file and return it re-encoded, or raise ``ValidationError``.

    ``max_pixels`` bounds the decoded size (width x height) and is checked from the header,
    before any pixel is decoded; Pillow's own ``Image.MAX_IMAGE_PIXELS`` applies too. The
    output keeps the input's format (a transparent PNG stays PNG, a JPEG stays JPEG); with
    ``max_side`` the image is shrunk to fit a ``max_side`` square. Only the first frame of an
    animated image is kept. EXIF orientation is applied to the pixels before it is dropped.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unsupported output formats: {sorted(unknown)}")
    accepted = _format_names(formats)

    # Read at most one byte past the limit: the declared size of an upload is not trusted.
    upload.seek(0)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(
            "The file is too large: the limit is %(limit)s.",
            code="file_too_large",
            params={"limit": filesizeformat(max_bytes)},
        )
    if not data:
        raise ValidationError("The file is empty.", code="empty")

    not_an_image = ValidationError(
        "This file is not an image we accept: upload a %(formats)s picture.",
        code="invalid_image",
        params={"formats": accepted},
    )
    too_many_pixels = ValidationError(
        "The picture is too large in pixels: the limit is %(limit)s megapixels.",
        code="too_many_pixels",
        params={"limit": f"{max_pixels / 1_000_000:g}"},
    )

    try:
        # Only the accepted decoders ever see the bytes. Opening reads the header alone;
        # it raises DecompressionBombError past twice Image.MAX_IMAGE_PIXELS.
        image = Image.open(BytesIO(data), formats=list(formats))
    except Image.DecompressionBombError:
        raise too_many_pixels from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_an_image from None

    with image:
        if image.format not in formats:  # a plugin may report a sibling format name
            raise not_an_image
        width, height = image.size
        pillow_limit = Image.MAX_IMAGE_PIXELS or max_pixels
        if width < 1 or height < 1:
            raise not_an_image
        if width * height > min(max_pixels, pillow_limit):
            raise too_many_pixels

        try:
            if max_side and image.format == "JPEG":
                # Let the JPEG decoder scale down by a power of two while decoding.
                image.draft("RGB", (max_side, max_side))
            image.load()  # decodes everything: a truncated or corrupt file fails here
            output_format = image.format
            pixels = ImageOps.exif_transpose(image)
            has_alpha = pixels.mode in ("RGBA", "LA", "PA") or (
                pixels.mode == "P" and "transparency" in pixels.info
            )
            mode = "RGBA" if has_alpha and output_format != "JPEG" else "RGB"
            pixels = pixels.convert(mode)
            if max_side:
                pixels.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            # A new image from raw pixels carries no metadata of the original at all.
            clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
            buffer = BytesIO()
            clean.save(buffer, format=output_format, **SAVE_OPTIONS[output_format])
        except Image.DecompressionBombError:
            raise too_many_pixels from None
        except Exception:  # Pillow's decoders raise many exception types on bad input
            raise ValidationError(
                "The picture is damaged or incomplete: export it again and upload the new file.",
                code="corrupt_image",
            ) from None

    return CleanImage(content=buffer.getvalue(), format=output_format, width=clean.width, height=clean.height)
