"""Placeholder photos for the demo listings, drawn with Pillow: a few per category, saved
once through the default storage and shared by URL."""

from __future__ import annotations

import colorsys
import hashlib
import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from listings.demo.generator import LeafPlan

IMAGES_PER_CATEGORY = 3
IMAGE_SIZE = (800, 600)


def _palette(name: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(name.encode()).digest()
    hue = digest[0] / 255
    spread = 0.08 + digest[1] / 255 * 0.25

    def rgb(h, s, v):
        return tuple(int(c * 255) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))

    return rgb(hue, 0.65, 0.45), rgb(hue + spread, 0.35, 0.95)


def render_placeholder(label: str, variant: int) -> bytes:
    """A JPEG: a two-colour gradient at an angle, the category name and a photo number."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    width, height = IMAGE_SIZE
    dark, light = _palette(f"{label}-{variant}")
    gradient = Image.linear_gradient("L").rotate(35 * variant + 20, expand=True).resize(IMAGE_SIZE)
    image = ImageOps.colorize(gradient, black=dark, white=light)
    draw = ImageDraw.Draw(image, "RGBA")
    for index in range(3):
        radius = 120 + 60 * ((variant + index) % 3)
        cx = int(width * (0.2 + 0.3 * index))
        cy = int(height * (0.25 + 0.25 * ((variant + index) % 2)))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255, 28))
    title_font = ImageFont.load_default(size=64)
    small_font = ImageFont.load_default(size=26)
    box = draw.textbbox((0, 0), label, font=title_font)
    x, y = (width - (box[2] - box[0])) // 2, (height - (box[3] - box[1])) // 2 - 20
    draw.text((x + 3, y + 3), label, font=title_font, fill=(0, 0, 0, 110))
    draw.text((x, y), label, font=title_font, fill=(255, 255, 255, 255))
    caption = f"Demo photo {variant}"
    box = draw.textbbox((0, 0), caption, font=small_font)
    draw.text(
        ((width - (box[2] - box[0])) // 2, y + 100), caption, font=small_font, fill=(255, 255, 255, 220)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=82, optimize=True)
    return buffer.getvalue()


def ensure_images(leaves: list[LeafPlan]) -> int:
    """A few photos per leaf category, saved once under ``demo/`` and reused by URL (set on
    each leaf). Returns how many files were written; existing ones are kept."""
    written = 0
    for leaf in leaves:
        for variant in range(1, IMAGES_PER_CATEGORY + 1):
            name = f"demo/{leaf.slug}-{variant}.jpg"
            if not default_storage.exists(name):
                name = default_storage.save(name, ContentFile(render_placeholder(leaf.name, variant)))
                written += 1
            leaf.images.append(default_storage.url(name))
    return written
