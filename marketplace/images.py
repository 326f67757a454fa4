"""Verification and re-encoding of uploaded images (avatars, listing photos).

An upload is never stored as sent: it is decoded with Pillow, checked (real image, allowed
format, byte and pixel limits, no decompression bomb), optionally shrunk, and written again
from raw pixels. The copy keeps no EXIF (GPS position, camera serial), XMP, ICC profile or
comment, and whatever trailing bytes the sender appended never reach storage.

``clean_uploaded_image`` makes one copy in the upload's own format (avatars);
``clean_uploaded_image_renditions`` decodes once and makes several sizes in one output
format (listing photos: a display copy and a thumbnail).
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


def _decode_verified(
    upload,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: tuple[str, ...],
    draft_side: int | None,
    output_format: str | None,
) -> tuple[Image.Image, str]:
    """Read, verify and decode ``upload``: ``(pixels, input format)`` or ``ValidationError``.

    The pixels are a fresh RGB or RGBA image with EXIF orientation applied and nothing else
    of the original attached. RGBA is kept only when the picture is transparent and the
    output format (``None``: the input's own) can hold it; otherwise transparency is flattened
    onto white, so a transparent PNG saved as JPEG does not turn black.
    """
    unknown = set(formats) - set(FORMATS)
    if output_format is not None:
        unknown |= {output_format} - set(FORMATS)
    if unknown:
        raise ValueError(f"Unsupported formats: {sorted(unknown)}")
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
        input_format = image.format
        width, height = image.size
        pillow_limit = Image.MAX_IMAGE_PIXELS or max_pixels
        if width < 1 or height < 1:
            raise not_an_image
        if width * height > min(max_pixels, pillow_limit):
            raise too_many_pixels

        try:
            if draft_side and input_format == "JPEG":
                # Let the JPEG decoder scale down by a power of two while decoding.
                image.draft("RGB", (draft_side, draft_side))
            image.load()  # decodes everything: a truncated or corrupt file fails here
            pixels = ImageOps.exif_transpose(image)
            has_alpha = pixels.mode in ("RGBA", "LA", "PA") or (
                pixels.mode == "P" and "transparency" in pixels.info
            )
            if has_alpha and (output_format or input_format) != "JPEG":
                pixels = pixels.convert("RGBA")
            elif has_alpha:
                rgba = pixels.convert("RGBA")
                flat = Image.new("RGB", rgba.size, "white")
                flat.paste(rgba, mask=rgba.getchannel("A"))
                pixels = flat
            else:
                pixels = pixels.convert("RGB")
            # A new image from raw pixels carries no metadata of the original at all.
            pixels = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
        except Image.DecompressionBombError:
            raise too_many_pixels from None
        except Exception:  # Pillow's decoders raise many exception types on bad input
            raise _corrupt() from None
    return pixels, input_format


def _corrupt() -> ValidationError:
    return ValidationError(
        "The picture is damaged or incomplete: export it again and upload the new file.",
        code="corrupt_image",
    )


def _encode(pixels: Image.Image, output_format: str) -> CleanImage:
    buffer = BytesIO()
    pixels.save(buffer, format=output_format, **SAVE_OPTIONS[output_format])
    return CleanImage(
        content=buffer.getvalue(), format=output_format, width=pixels.width, height=pixels.height
    )


def _shrink(pixels: Image.Image, max_side: int | None) -> Image.Image:
    if not max_side or (pixels.width <= max_side and pixels.height <= max_side):
        return pixels
    smaller = pixels.copy()
    smaller.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return smaller


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
    pixels, input_format = _decode_verified(
        upload,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        draft_side=max_side,
        output_format=None,
    )
    try:
        return _encode(_shrink(pixels, max_side), input_format)
    except Exception:
        raise _corrupt() from None


def clean_uploaded_image_renditions(
    upload,
    *,
    max_bytes: int,
    max_pixels: int,
    sizes: dict[str, int],
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    output_format: str = "JPEG",
) -> dict[str, CleanImage]:
    """Verify an uploaded file once and return one re-encoded copy per entry of ``sizes``
    (name -> the square each copy must fit), all in ``output_format``; or raise
    ``ValidationError``. The checks are those of ``clean_uploaded_image``. Pictures smaller
    than a size are not enlarged. Each smaller copy is made from the next larger one (the
    same result as from the original at these ratios, and much faster).
    """
    if not sizes or any(side < 1 for side in sizes.values()):
        raise ValueError("sizes must map names to positive pixel sizes.")
    pixels, _ = _decode_verified(
        upload,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        draft_side=max(sizes.values()),
        output_format=output_format,
    )
    copies = {}
    try:
        for name, side in sorted(sizes.items(), key=lambda item: -item[1]):
            pixels = _shrink(pixels, side)
            copies[name] = _encode(pixels, output_format)
    except Exception:
        raise _corrupt() from None
    return {name: copies[name] for name in sizes}
