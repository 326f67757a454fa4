"""Verification and re-encoding of uploaded images (avatars, listing photos).

An upload is never stored as sent: it is decoded with Pillow, checked (real image, allowed
format, byte and pixel limits, no decompression bomb), shrunk, and written again from raw
pixels. The copy keeps no EXIF (GPS position, camera serial), XMP, ICC profile (its colours
are converted to sRGB first) or comment, and whatever trailing bytes the sender appended
never reach storage.

``clean_uploaded_image`` makes one copy in the upload's own format (avatars);
``clean_uploaded_image_renditions`` decodes once and makes several sizes in one output
format (listing photos: a display copy and a thumbnail). Both go through ``display_pixels``,
the one conversion from whatever mode Pillow decoded (16-bit grey, palette with
transparency, CMYK, ...) and colour profile (ICC, converted to sRGB) to the 8-bit sRGB RGB
or RGBA that is stored.

Memory is bounded (DESIGN.md: one upload at the pixel cap adds at most 200 MB):

- a JPEG is decoded at reduced size when the copies are smaller (``draft``: the decoder
  scales by 1/2, 1/4 or 1/8 while it decodes);
- the decoded picture is the only full-size buffer: conversion and the first reduction run
  strip by strip into a canvas of about 16 MB (never smaller than the largest copy), and
  ``IMAGE_MAX_DECODE_BYTES`` caps that buffer before decoding. The pixel limit a user sees
  is the lower of the caller's ``max_pixels`` and what fits, which depends on the picture:
  1 byte a pixel for grey or palette, 2 for 16-bit grey, 4 for colour, 16 for WebP (its
  decoder keeps frames of its own); so by default 40 megapixels of colour, 10 of WebP;
- the work runs on a few long-lived worker threads (glibc keeps freed memory in a per-thread
  arena, so decoding on every request thread in turn would multiply the peak);
- one picture is decoded at a time per process (``IMAGE_DECODE_CONCURRENCY`` slots); an
  upload that finds no slot within ``IMAGE_DECODE_WAIT_SECONDS`` is refused with code
  ``image_busy`` (the views answer 429) and nothing is stored.

Multi-picture files: a camera JPEG carrying a second picture (MPO: a preview or the other
eye of a stereo pair) is a JPEG and its first picture is used; of an animated PNG or WebP
the first frame is used (animated GIF is not an accepted format).
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageChops, ImageCms, UnidentifiedImageError

# Pillow format name -> (file extension, content type).
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
DEFAULT_FORMATS = ("JPEG", "PNG", "WEBP")
# Pillow names a JPEG with a multi-picture (MP) extension "MPO"; it is a JPEG to everyone else.
FORMAT_ALIASES = {"MPO": "JPEG"}
SAVE_OPTIONS = {
    "JPEG": {"quality": 85, "optimize": True, "progressive": True},
    "PNG": {"optimize": True},
    "WEBP": {"quality": 85, "method": 4},
}
# The first reduction (integer factor, strip by strip) stops at twice the final size; the
# last step is a Lanczos resize. Pillow's own ``thumbnail`` uses the same gap.
REDUCING_GAP = 2.0
STRIP_BYTES = 2 * 1024 * 1024  # about this much of the picture is converted at once
CANVAS_BYTES = 16 * 1024 * 1024  # the reduced copy aims at this size (at least the target)

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# Modes whose pixels do not say what colour they are: 32-bit floats have no agreed range.
REFUSED_MODES = frozenset({"F"})
ORIENTATION_TAG = 0x0112
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
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


# --- Errors -------------------------------------------------------------------------------------
def _corrupt() -> ValidationError:
    return ValidationError(
        "The picture is damaged or incomplete: export it again and upload the new file.",
        code="corrupt_image",
    )


def _unsupported_pixels() -> ValidationError:
    return ValidationError(
        "This picture stores its pixels in a way we cannot show faithfully (floating-point or "
        "32-bit values): export it as an ordinary 8- or 16-bit JPEG, PNG or WebP.",
        code="unsupported_image",
    )


def _too_many_pixels(limit: int) -> ValidationError:
    return ValidationError(
        "The picture is too large in pixels: the limit is %(limit)s megapixels.",
        code="too_many_pixels",
        params={"limit": _megapixels(limit)},
    )


def _megapixels(pixels: int) -> str:
    """Rounded down, so never a limit a refused picture would meet: 33,554,432 -> "33.5"."""
    if pixels < 1_000_000:
        return f"{pixels / 1_000_000:g}"
    return f"{math.floor(pixels / 100_000) / 10:g}"


def _busy() -> ValidationError:
    return ValidationError(
        "We are processing many pictures right now: please try again in a minute.",
        code="image_busy",
    )


# --- One conversion for every mode ------------------------------------------------------------------
def has_transparency(image: Image.Image) -> bool:
    """True when some pixel may be see-through: an alpha band, a palette with alpha, or a
    transparent colour key (PNG ``tRNS``)."""
    return image.has_transparency_data


def _alpha_band(image: Image.Image) -> Image.Image:
    """The picture's alpha as an "L" band (255 = opaque)."""
    mode = image.mode
    if mode in ALPHA_MODES:
        return image.split()[-1]  # "A", or "a" for the premultiplied modes
    if mode == "P":
        return image.convert("RGBA").getchannel("A")
    key = image.info.get("transparency")
    if key is not None:
        if mode in SIXTEEN_BIT_MODES or mode == "I":  # compare the raw 16-bit values
            wide = image if mode == "I" else image.convert("I")
            above = wide.point(lambda value: (value - key) * 255).convert("L")  # clipped: 0 or 255
            below = wide.point(lambda value: (key - value) * 255).convert("L")
            return ImageChops.lighter(above, below)
        if mode in ("1", "L"):
            return image.convert("LA").getchannel("A")
        if mode == "RGB":
            return image.convert("RGBA").getchannel("A")
    return Image.new("L", image.size, 255)


def _grey_from_wide(image: Image.Image) -> Image.Image:
    """16-bit (0..65535) grey samples as 8-bit "L", rounded: 16448 -> 64. Pillow's own
    conversion clips them at 255 instead, so a dark 16-bit picture came out white."""
    wide = image if image.mode == "I" else image.convert("I")
    return wide.point(lambda value: value * (1 / 257) + 0.5).convert("L")


_lab_to_srgb = None
FROM_THE_IMAGE = object()  # display_pixels: build the colour transform from the image's profile


def colour_transform(image: Image.Image):
    """A LittleCMS transform from the picture's embedded ICC profile to sRGB (RGB and CMYK
    pictures: a CMYK print file, an Adobe RGB or Display P3 photo), or None: no profile, or
    one LittleCMS cannot use, in which case the pixels are read as sRGB, as browsers do.
    The stored copy is sRGB without a profile, so it must be converted, not just stripped."""
    icc = image.info.get("icc_profile")
    source_mode = {"RGB": "RGB", "RGBX": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}.get(image.mode)
    if not icc or source_mode is None:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        return ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), source_mode, "RGB")
    except Exception:  # a damaged or mismatched profile (an RGB profile on CMYK pixels...)
        return None


def _colour(image: Image.Image, transform=None) -> Image.Image:
    """The colour of every pixel as 8-bit sRGB "RGB", alpha ignored (see ``display_pixels``)."""
    global _lab_to_srgb
    mode = image.mode
    if transform is not None and mode == "CMYK":
        return ImageCms.applyTransform(image, transform)
    if transform is not None and mode in ("RGB", "RGBX", "RGBA"):
        rgb = image.convert("RGBA").convert("RGB") if mode == "RGBA" else image.convert("RGB")
        return ImageCms.applyTransform(rgb, transform)
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        return _grey_from_wide(image).convert("RGB")
    if mode == "LAB":  # Pillow's own LAB -> RGB copies the bands unchanged
        if _lab_to_srgb is None:
            _lab_to_srgb = ImageCms.buildTransform(
                ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
            )
        return ImageCms.applyTransform(image, _lab_to_srgb)
    if mode == "La":  # premultiplied grey: Pillow converts it to nothing else
        grey, alpha = image.split()
        return Image.merge("RGBa", (grey, grey, grey, alpha)).convert("RGBA").convert("RGB")
    if mode == "RGBa":
        return image.convert("RGBA").convert("RGB")
    if mode in ("P", "PA", "LA", "RGBA"):
        return image.convert("RGBA").convert("RGB")
    if "transparency" in image.info:  # colour-keyed L/RGB/1: the key is alpha's business
        image = image.copy()
        del image.info["transparency"]
    return image.convert("RGB")  # 1, L, RGB, RGBX, CMYK (Adobe-inverted read right), YCbCr, HSV


def check_mode(image: Image.Image) -> None:
    """Refuse (``ValidationError``) a picture whose pixel values have no agreed meaning.

    Call it once on the whole picture (``display_pixels`` does), not per strip.
    """
    if image.mode in REFUSED_MODES or image.mode not in Image.MODES:
        raise _unsupported_pixels()
    if image.mode == "I":  # 32-bit integers: accepted as 16-bit samples when they are
        low, high = image.getextrema()
        if low < 0 or high > 65535:
            raise _unsupported_pixels()


def display_pixels(
    image: Image.Image, *, keep_alpha: bool, checked: bool = False, transform=FROM_THE_IMAGE
) -> Image.Image:
    """Any mode Pillow decodes -> 8-bit "RGB", or "RGBA" when ``keep_alpha`` (the picture's
    transparency kept; an opaque picture gets an opaque alpha band).

    Without ``keep_alpha`` transparency is flattened onto white (a transparent PNG stored as
    JPEG does not turn black). 16-bit grey is scaled to 8 bits, palettes and colour keys
    resolved, CMYK and YCbCr converted, LAB converted through LittleCMS. ``F`` (float) and
    32-bit ``I`` values outside 0..65535 are refused; an embedded ICC profile is applied
    (``colour_transform``). The result is a new image without the source's metadata;
    conversion works pixel by pixel, so strips of a picture convert alike (``checked=True``
    skips the whole-picture check that ``check_mode`` makes; pass the picture's
    ``transform`` to build it once).
    """
    if not checked:
        check_mode(image)
    if transform is FROM_THE_IMAGE:
        transform = colour_transform(image)
    colour = _colour(image, transform)
    if keep_alpha:
        colour.putalpha(_alpha_band(image))
    elif has_transparency(image):
        flat = Image.new("RGB", image.size, "white")
        flat.paste(colour, mask=_alpha_band(image))
        colour = flat
    colour.info.clear()  # nothing of the source rides along (a LittleCMS transform adds a profile)
    return colour


# --- Decoding under a bounded budget ----------------------------------------------------------------
_pools_lock = threading.Lock()
_pools: dict[int, tuple[threading.BoundedSemaphore, ThreadPoolExecutor]] = {}


def _decode_pool() -> tuple[threading.BoundedSemaphore, ThreadPoolExecutor]:
    """The process's decode slots and the worker threads that run them (one pool per
    configured size: a test may change the setting).

    The work runs on these long-lived workers rather than on the request's thread: glibc
    gives each thread its own malloc arena and keeps what it freed there, so decoding on
    whatever thread served the request left ~200 MB behind in every one of them (four
    request threads, one at a time: 240 MB peak instead of 180). On the workers, memory
    freed by one upload is what the next one reuses.
    """
    size = max(1, settings.IMAGE_DECODE_CONCURRENCY)
    with _pools_lock:
        if size not in _pools:
            _pools[size] = (
                threading.BoundedSemaphore(size),
                ThreadPoolExecutor(max_workers=size, thread_name_prefix="image-decode"),
            )
        return _pools[size]


def _bounded(function, /, **kwargs):
    """Run ``function(**kwargs)`` in a decode slot, or raise ``image_busy`` when none frees
    up within ``IMAGE_DECODE_WAIT_SECONDS``. Waiting uploads hold no decoded pixels."""
    slots, workers = _decode_pool()
    if not slots.acquire(timeout=max(0.0, settings.IMAGE_DECODE_WAIT_SECONDS)):
        raise _busy()
    try:
        return workers.submit(function, **kwargs).result()
    finally:
        slots.release()


def _decode_cost(input_format: str, mode: str) -> int:
    """Bytes of memory one pixel costs while it is decoded: Pillow stores RGB in 4 bytes.
    Pillow decodes every WebP with libwebp's animation decoder, which holds two RGBA frames
    of its own and hands over a copy: 16 bytes a pixel (measured: bench/README.md)."""
    if input_format == "WEBP":
        return 16
    if mode in ("1", "L", "P"):
        return 1
    if mode in SIXTEEN_BIT_MODES:
        return 2
    return 4


def _fit(size: tuple[int, int], side: int | None) -> tuple[int, int]:
    """``size`` shrunk to fit a ``side`` square (never enlarged), as ``Image.thumbnail`` does."""
    width, height = size
    if not side or (width <= side and height <= side):
        return size
    scale = min(side / width, side / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _reduce_and_convert(image: Image.Image, target: tuple[int, int], keep_alpha: bool) -> Image.Image:
    """Convert the decoded picture strip by strip into an "RGB" or premultiplied "RGBa"
    canvas reduced by an integer factor: ``REDUCING_GAP`` times ``target`` or more, unless
    that canvas would pass ``CANVAS_BYTES``, and never smaller than ``target``. The decoded
    picture stays the only full-size buffer."""
    width, height = image.size
    ratio = min(width / target[0], height / target[1])
    factor = max(1, int(ratio / REDUCING_GAP))
    # A picture at the decode cap would otherwise get a canvas of up to a quarter of its own
    # size: reduce further (never below the target) so the canvas stays near CANVAS_BYTES.
    factor = max(factor, min(int(ratio), math.ceil(math.sqrt(width * height * 4 / CANVAS_BYTES))))
    alpha = keep_alpha and has_transparency(image)
    transform = colour_transform(image)
    canvas = Image.new("RGBa" if alpha else "RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    rows = max(1, STRIP_BYTES // (width * 4) // factor) * factor
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        strip = display_pixels(strip, keep_alpha=alpha, checked=True, transform=transform)
        if alpha:
            strip = strip.convert("RGBa")  # average colours weighted by their opacity
        if factor > 1:
            strip = strip.reduce(factor)
        canvas.paste(strip, (0, top // factor))
        del strip
    return canvas


def _read(upload, max_bytes: int) -> bytes:
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
    return data


def _decode(
    upload,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: tuple[str, ...],
    largest_side: int | None,
    output_format: str | None,
) -> tuple[Image.Image, str]:
    """Read, verify and decode ``upload``: ``(pixels, input format)`` or ``ValidationError``.

    The pixels are a fresh RGB or RGBA image fitting ``largest_side`` (not yet resized
    exactly) with EXIF orientation applied and nothing of the original attached. RGBA is
    kept only when the picture is transparent and the output format (``None``: the input's
    own) can hold it. Call it holding a decode slot.
    """
    data = _read(upload, max_bytes)
    accepted = _format_names(formats)
    not_an_image = ValidationError(
        "This file is not an image we accept: upload a %(formats)s picture.",
        code="invalid_image",
        params={"formats": accepted},
    )
    pillow_limit = Image.MAX_IMAGE_PIXELS or max_pixels
    try:
        # Only the accepted decoders ever see the bytes. Opening reads the header alone;
        # it raises DecompressionBombError past twice Image.MAX_IMAGE_PIXELS.
        image = Image.open(BytesIO(data), formats=list(formats))
    except Image.DecompressionBombError:
        raise _too_many_pixels(min(max_pixels, pillow_limit)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_an_image from None

    with image:
        input_format = FORMAT_ALIASES.get(image.format, image.format)
        if input_format not in formats:  # a plugin may report a sibling format name
            raise not_an_image
        width, height = image.size
        if width < 1 or height < 1:
            raise not_an_image
        if width * height > min(max_pixels, pillow_limit):
            raise _too_many_pixels(min(max_pixels, pillow_limit))
        if image.mode in REFUSED_MODES or image.mode not in Image.MODES:
            raise _unsupported_pixels()
        keep_alpha = (output_format or input_format) != "JPEG"
        target = _fit(image.size, largest_side)
        try:
            if input_format == "JPEG" and target != image.size:
                # Let the JPEG decoder scale down by a power of two while decoding.
                image.draft(image.mode, target)
            # The decoded picture is the one full-size buffer: cap it before decoding.
            decode_limit = settings.IMAGE_MAX_DECODE_BYTES // _decode_cost(input_format, image.mode)
            if image.width * image.height > decode_limit:
                raise _too_many_pixels(min(max_pixels, decode_limit))
            image.load()  # decodes everything: a truncated or corrupt file fails here
            check_mode(image)
            orientation = image.getexif().get(ORIENTATION_TAG)  # a PNG's may follow its pixels
            pixels = _reduce_and_convert(image, _fit(image.size, largest_side), keep_alpha)
        except ValidationError:
            raise
        except Image.DecompressionBombError:
            raise _too_many_pixels(min(max_pixels, pillow_limit)) from None
        except Exception:  # Pillow's decoders raise many exception types on bad input
            raise _corrupt() from None
    try:
        pixels = _shrink(pixels, largest_side)
        if pixels.mode == "RGBa":
            pixels = pixels.convert("RGBA")
        if orientation in ORIENTATIONS:
            pixels = pixels.transpose(ORIENTATIONS[orientation])
    except Exception:
        raise _corrupt() from None
    return pixels, input_format


def _check_formats(formats: tuple[str, ...], output_format: str | None) -> None:
    unknown = set(formats) - set(FORMATS)
    if output_format is not None:
        unknown |= {output_format} - set(FORMATS)
    if unknown:
        raise ValueError(f"Unsupported formats: {sorted(unknown)}")


def _encode(pixels: Image.Image, output_format: str) -> CleanImage:
    buffer = BytesIO()
    pixels.save(buffer, format=output_format, **SAVE_OPTIONS[output_format])
    return CleanImage(
        content=buffer.getvalue(), format=output_format, width=pixels.width, height=pixels.height
    )


def _shrink(pixels: Image.Image, max_side: int | None) -> Image.Image:
    size = _fit(pixels.size, max_side)
    if size == pixels.size:
        return pixels
    return pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _one_copy(upload, *, max_side: int | None, **checks) -> CleanImage:
    pixels, input_format = _decode(upload, largest_side=max_side, output_format=None, **checks)
    try:
        return _encode(pixels, input_format)
    except Exception:
        raise _corrupt() from None


def _renditions(upload, *, sizes: dict[str, int], output_format: str, **checks) -> dict[str, CleanImage]:
    pixels, _ = _decode(upload, largest_side=max(sizes.values()), output_format=output_format, **checks)
    copies = {}
    try:
        for name, side in sorted(sizes.items(), key=lambda item: -item[1]):
            pixels = _shrink(pixels, side)
            copies[name] = _encode(pixels, output_format)
    except Exception:
        raise _corrupt() from None
    return {name: copies[name] for name in sizes}


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
    before any pixel is decoded; Pillow's own ``Image.MAX_IMAGE_PIXELS`` and the decode
    budget (``IMAGE_MAX_DECODE_BYTES``) apply too. The output keeps the input's format (a
    transparent PNG stays PNG, a JPEG, MPO included, stays JPEG); with ``max_side`` the
    image is shrunk to fit a ``max_side`` square. Only the first frame of an animated or
    multi-picture file is kept. EXIF orientation is applied to the pixels before it is
    dropped. Code ``image_busy``: no decode slot freed up in time (answer 429).
    """
    _check_formats(formats, None)
    return _bounded(
        _one_copy,
        upload=upload,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        max_side=max_side,
    )


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
    _check_formats(formats, output_format)
    return _bounded(
        _renditions,
        upload=upload,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        formats=formats,
        sizes=sizes,
        output_format=output_format,
    )
