"""marketplace.images: one conversion for every image mode, multi-picture files, and the
memory bounds (decode budget, reduced decoding, one decode at a time per process)."""

import threading
import time
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageChops, ImageCms

from marketplace import images
from marketplace.images import clean_uploaded_image, clean_uploaded_image_renditions, display_pixels
from tests.images import (
    animated_bytes,
    assert_colour,
    image_bytes,
    mean_colour,
    mpo_bytes,
    png_16bit_grey,
    png_raw,
    swapped_profile,
)

SIZE = (24, 16)
GREY64 = (64, 64, 64)
BLUEISH = (10, 120, 200)


def _palette(colour, transparent=False) -> Image.Image:
    image = Image.new("P", SIZE, 0)
    image.putpalette([*colour, 0, 0, 0])
    if transparent:
        image.info["transparency"] = 0
    return image


def _lab_grey() -> tuple[int, int, int]:
    """The reference for LAB: LittleCMS's own conversion of L*=50 neutral to sRGB."""
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    return ImageCms.applyTransform(Image.new("LAB", (1, 1), (128, 128, 128)), transform).getpixel((0, 0))


def _with_info(image: Image.Image, **info) -> Image.Image:
    image.info.update(info)
    return image


# Every mode Pillow has (Image.MODES), each with a picture whose right colour is known
# independently of Pillow's conversions: (id, image factory, expected RGB over white).
OPAQUE_CASES = [
    ("1", lambda: Image.new("1", SIZE, 1), (255, 255, 255)),
    ("L", lambda: Image.new("L", SIZE, 64), GREY64),
    ("P", lambda: _palette(BLUEISH), BLUEISH),
    ("RGB", lambda: Image.new("RGB", SIZE, BLUEISH), BLUEISH),
    ("RGBX", lambda: Image.new("RGBX", SIZE, (*BLUEISH, 0)), BLUEISH),
    ("CMYK", lambda: Image.new("CMYK", SIZE, (0, 0, 0, 191)), GREY64),  # 25 % ink left
    ("CMYK-cyan", lambda: Image.new("CMYK", SIZE, (255, 0, 0, 0)), (0, 255, 255)),
    ("YCbCr", lambda: Image.new("YCbCr", SIZE, (64, 128, 128)), GREY64),
    ("HSV", lambda: Image.new("HSV", SIZE, (0, 255, 255)), (255, 0, 0)),
    ("LAB", lambda: Image.new("LAB", SIZE, (128, 128, 128)), _lab_grey()),
    ("I;16", lambda: Image.new("I;16", SIZE, 16448), GREY64),
    ("I;16L", lambda: Image.new("I;16L", SIZE, 16448), GREY64),
    ("I;16B", lambda: Image.new("I;16B", SIZE, 16448), GREY64),
    ("I;16N", lambda: Image.new("I;16N", SIZE, 16448), GREY64),
    ("I;16-white", lambda: Image.new("I;16", SIZE, 65535), (255, 255, 255)),
    ("I", lambda: Image.new("I", SIZE, 16448), GREY64),
    # Half-transparent black over white is mid grey; fully opaque keeps its colour.
    ("LA", lambda: Image.new("LA", SIZE, (0, 128)), (127, 127, 127)),
    ("La", lambda: Image.new("La", SIZE, (64, 255)), GREY64),
    ("PA", lambda: Image.new("PA", SIZE, (0, 255)).convert("PA"), (0, 0, 0)),
    ("RGBA", lambda: Image.new("RGBA", SIZE, (*BLUEISH, 255)), BLUEISH),
    ("RGBA-clear", lambda: Image.new("RGBA", SIZE, (0, 0, 0, 0)), (255, 255, 255)),
    ("RGBa", lambda: Image.new("RGBa", SIZE, (5, 60, 100, 128)), (132, 187, 227)),
    ("P-transparent", lambda: _palette(BLUEISH, transparent=True), (255, 255, 255)),
    ("L-colour-key", lambda: _with_info(Image.new("L", SIZE, 64), transparency=64), (255, 255, 255)),
    (
        "RGB-colour-key",
        lambda: _with_info(Image.new("RGB", SIZE, BLUEISH), transparency=BLUEISH),
        (255, 255, 255),
    ),
    (
        "I;16-colour-key",
        lambda: _with_info(Image.new("I;16", SIZE, 16448), transparency=16448),
        (255, 255, 255),
    ),
]
REFUSED_CASES = [
    ("F", lambda: Image.new("F", SIZE, 0.25)),
    ("I-negative", lambda: Image.new("I", SIZE, -5)),
    ("I-past-16-bit", lambda: Image.new("I", SIZE, 70_000)),
]


def test_the_table_covers_every_mode_pillow_has():
    covered = {name.split("-")[0] for name, *_ in OPAQUE_CASES + REFUSED_CASES}
    assert set(Image.MODES) <= covered


@pytest.mark.parametrize(
    ("factory", "expected"), [case[1:] for case in OPAQUE_CASES], ids=[c[0] for c in OPAQUE_CASES]
)
def test_every_mode_looks_like_its_source_when_flattened(factory, expected):
    out = display_pixels(factory(), keep_alpha=False)
    assert out.mode == "RGB"
    assert out.info == {}
    assert_colour(out, expected, tolerance=2)


@pytest.mark.parametrize(
    ("factory", "expected_alpha"),
    [
        (lambda: Image.new("RGBA", SIZE, (*BLUEISH, 77)), 77),
        (lambda: Image.new("LA", SIZE, (64, 77)), 77),
        (lambda: Image.new("La", SIZE, (32, 128)), 128),
        (lambda: Image.new("PA", SIZE, (0, 77)), 77),
        (lambda: _palette(BLUEISH, transparent=True), 0),
        (lambda: _with_info(Image.new("L", SIZE, 64), transparency=64), 0),
        (lambda: _with_info(Image.new("RGB", SIZE, BLUEISH), transparency=BLUEISH), 0),
        (lambda: _with_info(Image.new("I;16", SIZE, 16448), transparency=16448), 0),
        (lambda: _with_info(Image.new("I;16B", SIZE, 16448), transparency=16448), 0),
        (lambda: _with_info(Image.new("I;16", SIZE, 16448), transparency=1), 255),
        (lambda: Image.new("I;16", SIZE, 16448), 255),
    ],
)
def test_transparency_is_kept_when_asked(factory, expected_alpha):
    out = display_pixels(factory(), keep_alpha=True)
    assert out.mode == "RGBA"
    assert out.getchannel("A").getextrema() == (expected_alpha, expected_alpha)


def test_keeping_alpha_keeps_the_colour_too():
    out = display_pixels(Image.new("I;16", SIZE, 16448), keep_alpha=True)
    assert out.getpixel((0, 0)) == (64, 64, 64, 255)
    la = display_pixels(Image.new("La", SIZE, (32, 128)), keep_alpha=True)
    grey, _, _, alpha = la.getpixel((0, 0))
    assert alpha == 128
    assert abs(grey - 64) <= 1  # un-premultiplied: 32 * 255 / 128


def test_a_16_bit_gradient_keeps_its_tones():
    eight_bit = Image.linear_gradient("L").resize((256, 64))
    sixteen_bit = eight_bit.convert("I").point(lambda v: v * 257).convert("I;16")
    out = display_pixels(sixteen_bit, keep_alpha=False)
    difference = ImageChops.difference(out, eight_bit.convert("RGB"))
    assert max(high for _, high in difference.getextrema()) == 0
    assert_colour(out, mean_colour(eight_bit), tolerance=0.01)


@pytest.mark.parametrize("factory", [case[1] for case in REFUSED_CASES], ids=[c[0] for c in REFUSED_CASES])
def test_modes_without_an_agreed_meaning_are_refused(factory):
    with pytest.raises(ValidationError) as refused:
        display_pixels(factory(), keep_alpha=False)
    assert refused.value.code == "unsupported_image"
    assert "8- or 16-bit JPEG, PNG or WebP" in refused.value.messages[0]


# --- Files, through the upload functions -------------------------------------------------------
def _cmyk_jpeg(colour, **save) -> bytes:
    buffer = BytesIO()
    Image.new("CMYK", (64, 48), colour).save(buffer, format="JPEG", quality=95, **save)
    return buffer.getvalue()


def _rgba_webp() -> bytes:
    return image_bytes("WEBP", mode="RGBA", color=(0, 0, 0, 0), lossless=True)


# (id, file bytes, expected RGB of a JPEG copy over white)
FILE_CASES = [
    ("png-16bit-grey", png_16bit_grey(), GREY64),  # the picture
    ("png-16bit-grey-white", png_16bit_grey(value=65535), (255, 255, 255)),
    (
        "png-16bit-rgb",
        png_raw(64, 48, bit_depth=16, colour_type=2, sample=(16448, 32896, 51400)),
        (64, 128, 200),
    ),
    (
        "png-16bit-rgba",
        png_raw(64, 48, bit_depth=16, colour_type=6, sample=(0, 0, 0, 32896)),
        (127, 127, 127),
    ),
    ("png-16bit-grey-alpha", png_raw(64, 48, bit_depth=16, colour_type=4, sample=(16448, 65535)), GREY64),
    (
        "png-16bit-grey-key",
        png_raw(64, 48, bit_depth=16, colour_type=0, sample=(16448,), trns=b"\x40\x40"),
        (255,) * 3,
    ),
    ("png-1bit", png_raw(64, 48, bit_depth=1, colour_type=0, sample=(1,)), (255, 255, 255)),
    ("png-2bit", png_raw(64, 48, bit_depth=2, colour_type=0, sample=(1,)), (85, 85, 85)),
    ("png-4bit", png_raw(64, 48, bit_depth=4, colour_type=0, sample=(4,)), (68, 68, 68)),
    (
        "png-8bit-grey-key",
        png_raw(64, 48, bit_depth=8, colour_type=0, sample=(64,), trns=b"\x00\x40"),
        (255,) * 3,
    ),
    (
        "png-rgb-key",
        png_raw(64, 48, bit_depth=8, colour_type=2, sample=BLUEISH, trns=b"\0\x0a\0\x78\0\xc8"),
        (255,) * 3,
    ),
    ("png-grey-alpha", image_bytes("PNG", mode="LA", color=(0, 128)), (127, 127, 127)),
    ("png-palette-transparent", image_bytes("PNG", mode="P", color=0, transparency=0), (255, 255, 255)),
    ("png-rgba", image_bytes("PNG", mode="RGBA", color=(*BLUEISH, 255)), BLUEISH),
    ("jpeg-cmyk", _cmyk_jpeg((0, 0, 0, 191)), GREY64),
    ("jpeg-cmyk-cyan", _cmyk_jpeg((255, 0, 0, 0)), (0, 255, 255)),
    ("jpeg-grey", image_bytes("JPEG", mode="L", color=64), GREY64),
    ("jpeg-rgb", image_bytes("JPEG", color=BLUEISH, quality=95), BLUEISH),
    ("webp-transparent", _rgba_webp(), (255, 255, 255)),
    ("mpo", mpo_bytes(first="red", second="blue"), (254, 0, 0)),
    ("apng", animated_bytes("PNG", ("red", "blue")), (254, 0, 0)),
    ("webp-animated", animated_bytes("WEBP", ("red", "blue")), (254, 0, 0)),
    # An embedded colour profile is applied: these pixels say "red" in a colour space whose
    # red is sRGB's blue. A profile LittleCMS cannot read is ignored, as browsers do.
    ("jpeg-icc", image_bytes("JPEG", color="red", quality=95, icc_profile=swapped_profile()), (0, 0, 254)),
    ("png-icc", image_bytes("PNG", color="red", icc_profile=swapped_profile()), (0, 0, 255)),
    (
        "png-rgba-icc",
        image_bytes("PNG", mode="RGBA", color=(255, 0, 0, 255), icc_profile=swapped_profile()),
        (0, 0, 255),
    ),
    ("webp-icc", image_bytes("WEBP", color="red", lossless=True, icc_profile=swapped_profile()), (0, 0, 255)),
    ("png-broken-icc", image_bytes("PNG", color="red", icc_profile=b"not a profile"), (255, 0, 0)),
    ("jpeg-cmyk-rgb-icc", _cmyk_jpeg((0, 0, 0, 191), icc_profile=swapped_profile()), GREY64),
]


def _upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("picture", data)


@pytest.mark.parametrize(
    ("data", "expected"), [case[1:] for case in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_every_kind_of_file_is_stored_looking_like_its_source(data, expected):
    copies = clean_uploaded_image_renditions(
        _upload(data), max_bytes=10**6, max_pixels=10**6, sizes={"display": 32, "thumb": 8}
    )
    for copy in copies.values():
        assert copy.format == "JPEG"
        assert_colour(copy.content, expected, tolerance=4)
    avatar = clean_uploaded_image(_upload(data), max_bytes=10**6, max_pixels=10**6, max_side=32)
    with Image.open(BytesIO(avatar.content)) as stored:
        assert stored.mode in ("RGB", "RGBA")
        flat = Image.new("RGB", stored.size, "white")
        flat.paste(stored.convert("RGBA"), mask=stored.convert("RGBA").getchannel("A"))
        assert_colour(flat, expected, tolerance=4)


def test_a_multi_picture_jpeg_is_a_jpeg_with_its_first_picture():
    avatar = clean_uploaded_image(_upload(mpo_bytes()), max_bytes=10**6, max_pixels=10**6)
    assert (avatar.format, avatar.extension, avatar.content_type) == ("JPEG", "jpg", "image/jpeg")
    with Image.open(BytesIO(avatar.content)) as stored:
        assert stored.format == "JPEG"
        assert getattr(stored, "n_frames", 1) == 1  # the second picture is not stored
        assert not stored.getexif()
    assert_colour(avatar.content, (254, 0, 0), tolerance=4)


def test_a_multi_picture_jpeg_is_refused_where_jpeg_is_not_accepted():
    with pytest.raises(ValidationError) as refused:
        clean_uploaded_image(_upload(mpo_bytes()), max_bytes=10**6, max_pixels=10**6, formats=("PNG",))
    assert refused.value.code == "invalid_image"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animations_keep_their_first_frame_only(fmt):
    clean = clean_uploaded_image(_upload(animated_bytes(fmt)), max_bytes=10**6, max_pixels=10**6)
    assert clean.format == fmt
    with Image.open(BytesIO(clean.content)) as stored:
        assert getattr(stored, "n_frames", 1) == 1
        assert not getattr(stored, "is_animated", False)
    assert_colour(clean.content, (254, 0, 0), tolerance=4)


def test_an_animated_gif_is_still_refused():
    with pytest.raises(ValidationError) as refused:
        clean_uploaded_image(_upload(animated_bytes("GIF")), max_bytes=10**6, max_pixels=10**6)
    assert refused.value.code == "invalid_image"


def test_exif_orientation_is_applied_after_the_reduction():
    exif = Image.Exif()
    exif[0x0112] = 6
    clean = clean_uploaded_image(
        _upload(image_bytes("JPEG", size=(400, 200), exif=exif)),
        max_bytes=10**6,
        max_pixels=10**6,
        max_side=100,
    )
    assert (clean.width, clean.height) == (50, 100)


# --- Memory -------------------------------------------------------------------------------------------
def test_the_decode_budget_refuses_a_png_before_decoding_it(settings):
    settings.IMAGE_MAX_DECODE_BYTES = 4 * 100 * 100  # 10,000 colour pixels
    ok = clean_uploaded_image(_upload(image_bytes("PNG", size=(100, 100))), max_bytes=10**6, max_pixels=10**6)
    assert ok.width == 100
    with pytest.raises(ValidationError) as refused:
        clean_uploaded_image(_upload(image_bytes("PNG", size=(101, 100))), max_bytes=10**6, max_pixels=10**6)
    assert refused.value.code == "too_many_pixels"
    assert refused.value.messages == ["The picture is too large in pixels: the limit is 0.01 megapixels."]


def test_the_decode_budget_counts_bytes_per_pixel_of_the_mode(settings):
    settings.IMAGE_MAX_DECODE_BYTES = 4 * 100 * 100
    grey = image_bytes("PNG", size=(200, 200), mode="L")  # 40,000 bytes decoded: fits
    assert clean_uploaded_image(_upload(grey), max_bytes=10**6, max_pixels=10**6).width == 200
    wide = png_16bit_grey(size=(150, 150))  # 45,000 bytes decoded: too many
    with pytest.raises(ValidationError, match="the limit is 0.02 megapixels"):
        clean_uploaded_image(_upload(wide), max_bytes=10**6, max_pixels=10**6)


def test_webp_costs_sixteen_bytes_a_pixel(settings):
    settings.IMAGE_MAX_DECODE_BYTES = 16 * 50 * 50
    assert clean_uploaded_image(
        _upload(image_bytes("WEBP", size=(50, 50))), max_bytes=10**6, max_pixels=10**6
    )
    with pytest.raises(ValidationError, match="too large in pixels"):
        clean_uploaded_image(_upload(image_bytes("WEBP", size=(51, 50))), max_bytes=10**6, max_pixels=10**6)


def test_a_large_jpeg_is_decoded_at_reduced_size(settings, monkeypatch):
    """A JPEG that would not fit the decode budget at full size is decoded at 1/8 when the
    copy is small: the budget is checked on what the decoder will produce."""
    settings.IMAGE_MAX_DECODE_BYTES = 4 * 300 * 300
    data = image_bytes("JPEG", size=(2400, 1600), noise=True)
    decoded_sizes = []
    monkeypatch.setattr(images, "_reduce_and_convert", _recording(images._reduce_and_convert, decoded_sizes))
    clean = clean_uploaded_image(_upload(data), max_bytes=10**7, max_pixels=10**7, max_side=256)
    assert (clean.width, clean.height) == (256, 171)
    assert decoded_sizes == [(300, 200)]  # 2400 x 1600 at 1/8
    with pytest.raises(ValidationError, match="too large in pixels"):  # the same picture, kept big
        clean_uploaded_image(_upload(data), max_bytes=10**7, max_pixels=10**7, max_side=2000)


def _recording(function, sizes):
    def wrapper(image, *args, **kwargs):
        sizes.append(image.size)
        return function(image, *args, **kwargs)

    return wrapper


def test_strips_give_the_same_picture_as_one_pass(monkeypatch):
    data = image_bytes("PNG", size=(500, 333), noise=True, mode="RGBA")
    sizes = {"display": 90, "thumb": 30}
    whole = clean_uploaded_image_renditions(_upload(data), max_bytes=10**7, max_pixels=10**7, sizes=sizes)
    monkeypatch.setattr(images, "STRIP_BYTES", 1)  # one row of blocks at a time
    strips = clean_uploaded_image_renditions(_upload(data), max_bytes=10**7, max_pixels=10**7, sizes=sizes)
    assert {name: copy.content for name, copy in strips.items()} == {
        name: copy.content for name, copy in whole.items()
    }


def test_the_reduced_canvas_stays_small_at_the_cap(monkeypatch):
    monkeypatch.setattr(images, "CANVAS_BYTES", 4 * 400 * 250)
    canvas = images._reduce_and_convert(Image.new("RGB", (1600, 1000)), (320, 200), keep_alpha=False)
    assert canvas.size == (400, 250)  # factor 4, not 2: at most about CANVAS_BYTES, never below the target
    small = images._reduce_and_convert(Image.new("RGB", (700, 400)), (350, 200), keep_alpha=False)
    assert small.size == (350, 200)


# --- One decode at a time per process -----------------------------------------------------------------
@pytest.fixture
def busy(settings):
    """Every decode slot held by someone else; uploads wait 50 ms for one."""
    settings.IMAGE_DECODE_WAIT_SECONDS = 0.05
    slots, _ = images._decode_pool()
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    yield
    for _ in range(taken):
        slots.release()


def test_no_slot_in_time_is_a_clear_busy_refusal(busy):
    started = time.monotonic()
    with pytest.raises(ValidationError) as refused:
        clean_uploaded_image(_upload(image_bytes()), max_bytes=10**6, max_pixels=10**6)
    assert refused.value.code == "image_busy"
    assert "try again in a minute" in refused.value.messages[0]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("slots", [1, 2])
def test_decodes_never_overlap_past_the_setting(settings, monkeypatch, slots):
    settings.IMAGE_DECODE_CONCURRENCY = slots
    settings.IMAGE_DECODE_WAIT_SECONDS = 30
    lock, running, peak = threading.Lock(), [0], [0]
    decode = images._decode

    def slow_decode(*args, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return decode(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(images, "_decode", slow_decode)
    errors = []

    def work():
        try:
            clean_uploaded_image(_upload(image_bytes()), max_bytes=10**6, max_pixels=10**6)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert peak[0] == slots


def test_a_colour_profile_is_applied_to_the_picture_not_kept():
    data = image_bytes("PNG", color="red", icc_profile=swapped_profile())
    clean = clean_uploaded_image(_upload(data), max_bytes=10**6, max_pixels=10**6)
    with Image.open(BytesIO(clean.content)) as stored:
        assert "icc_profile" not in stored.info
        assert stored.getpixel((0, 0))[:3] == (0, 0, 255)
    direct = display_pixels(Image.open(BytesIO(data)), keep_alpha=False)
    assert direct.getpixel((0, 0)) == (0, 0, 255)
