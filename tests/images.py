"""Test images built in memory: plain, with GPS EXIF, and a decompression bomb."""

import struct
import zlib
from io import BytesIO

from PIL import ExifTags, Image


def image_bytes(fmt="JPEG", size=(64, 48), mode="RGB", noise=False, color="teal", **save) -> bytes:
    image = Image.effect_noise(size, 80).convert(mode) if noise else Image.new(mode, size, color)
    buffer = BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def jpeg_with_gps(size=(64, 48)) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Model] = "Serial 12345"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
            ExifTags.GPS.GPSLongitudeRef: "W",
            ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
        }
    )
    data = image_bytes("JPEG", size=size, exif=exif)
    assert Image.open(BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture is real
    return data


def png_bomb(width=50_000, height=50_000) -> bytes:
    """A few hundred bytes that declare billions of pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    pixels = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_raw(width: int, height: int, *, bit_depth: int, colour_type: int, sample, trns: bytes = b"") -> bytes:
    """A PNG written by hand, for what Pillow cannot save (16-bit colour, 16-bit grey+alpha):
    every pixel is ``sample`` (a tuple of channel values at ``bit_depth``; for 1, 2 and 4-bit
    grey, one value). ``trns`` is the body of a tRNS chunk."""
    if bit_depth < 8:
        per_byte = 8 // bit_depth
        value = sample[0]
        byte = 0
        for _ in range(per_byte):
            byte = (byte << bit_depth) | value
        row = bytes([byte]) * ((width + per_byte - 1) // per_byte)
    else:
        fmt = ">" + ("H" if bit_depth == 16 else "B") * len(sample)
        row = struct.pack(fmt, *sample) * width
    pixels = zlib.compress(b"".join(b"\0" + row for _ in range(height)))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = _chunk(b"IHDR", header) + (_chunk(b"tRNS", trns) if trns else b"")
    return b"\x89PNG\r\n\x1a\n" + chunks + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def png_16bit_grey(size=(64, 48), value=16448) -> bytes:
    """The issue's picture: 16-bit greyscale, every pixel 16448/65535 (about 64/255)."""
    data = png_raw(*size, bit_depth=16, colour_type=0, sample=(value,))
    assert Image.open(BytesIO(data)).mode == "I;16"  # the fixture is what Pillow calls 16-bit grey
    return data


def mpo_bytes(first="red", second="blue", size=(64, 48)) -> bytes:
    """A camera-style multi-picture JPEG (MPO): a main picture and a second one."""
    buffer = BytesIO()
    Image.new("RGB", size, first).save(
        buffer, format="MPO", save_all=True, append_images=[Image.new("RGB", size, second)]
    )
    data = buffer.getvalue()
    with Image.open(BytesIO(data)) as opened:
        assert opened.format == "MPO" and opened.n_frames == 2
    return data


def animated_bytes(fmt: str, colours=("red", "blue", "lime"), size=(64, 48)) -> bytes:
    """An animated PNG (APNG), WebP or GIF whose frames are ``colours``."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    buffer = BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    data = buffer.getvalue()
    with Image.open(BytesIO(data)) as opened:
        assert getattr(opened, "n_frames", 1) == len(colours)
    return data


def mean_colour(data_or_image) -> tuple[float, ...]:
    """Mean of each RGB band of a stored picture (bytes, a path or an image)."""
    from PIL import ImageStat

    if isinstance(data_or_image, Image.Image):
        image = data_or_image
    else:
        image = Image.open(BytesIO(data_or_image) if isinstance(data_or_image, bytes) else data_or_image)
    return tuple(ImageStat.Stat(image.convert("RGB")).mean)


def assert_colour(data_or_image, expected, tolerance=3.0) -> None:
    actual = mean_colour(data_or_image)
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (actual, expected)


# sRGB's primaries (D50-adapted, as ICC profiles store them).
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def icc_rgb_profile(red=SRGB_RED, green=SRGB_GREEN, blue=SRGB_BLUE, gamma=2.2) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and gamma curves) written by hand; with
    ``red`` and ``blue`` swapped, a pixel stored as (255, 0, 0) means pure blue."""

    def s15(value):
        return struct.pack(">i", round(value * 65536))

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(*red)),
        (b"gXYZ", xyz(*green)),
        (b"bXYZ", xyz(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acspAPPL"
        + b"\0" * 20  # flags, manufacturer, model, attributes
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def swapped_profile() -> bytes:
    return icc_rgb_profile(red=SRGB_BLUE, blue=SRGB_RED)
