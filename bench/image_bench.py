"""Image upload benchmark: peak memory added and CPU time per upload at the pixel cap.

    .venv/bin/python bench/image_bench.py [--threads 4] [--only png-avatar,jpeg-photo]

Each case runs in a fresh Python process, so one case's memory cannot hide another's: the
process imports Django and Pillow, reads the upload into memory, records its resident-set
high-water mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: Pillow's pixel buffers are C
allocations that ``tracemalloc`` does not see), runs the upload the way the site does
(``clean_uploaded_image`` as the avatar form calls it, ``clean_uploaded_image_renditions`` as
``listings.photos.photo_add`` does), and prints how far the high-water mark rose and the CPU
seconds used. The inputs are written to a temporary directory first, by another process (a child
inherits its parent's ``ru_maxrss`` at fork, so the parent must stay small).

The parallel cases start ``--threads`` threads that each upload one picture at the same
moment (a barrier), once with the site's semaphore (``IMAGE_DECODE_CONCURRENCY``, default 1)
and once with as many slots as threads, to show what the semaphore saves. The budget
(DESIGN.md) is 200 MB added per upload at the cap, and parallel uploads must not multiply it.
See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BUDGET_MB = 200

CHILD = r"""
import json, os, resource, sys, threading, time
sys.path.insert(0, {base!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")
import django
django.setup()
from io import BytesIO
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from marketplace.images import clean_uploaded_image, clean_uploaded_image_renditions

case = json.loads(sys.argv[1])
data = open(case["path"], "rb").read()

def one_upload():
    upload = SimpleUploadedFile("x", data)
    if case["use"] == "avatar":
        clean_uploaded_image(upload, max_bytes=settings.AVATAR_MAX_UPLOAD_BYTES,
                             max_pixels=settings.AVATAR_MAX_PIXELS, max_side=settings.AVATAR_SIZE)
    else:
        clean_uploaded_image_renditions(
            upload, max_bytes=settings.LISTING_PHOTO_MAX_UPLOAD_BYTES,
            max_pixels=settings.LISTING_PHOTO_MAX_PIXELS, formats=("JPEG", "PNG", "WEBP"),
            sizes={{"display": settings.LISTING_PHOTO_DISPLAY_SIZE,
                    "thumb": settings.LISTING_PHOTO_THUMB_SIZE}},
            output_format="JPEG")

# Warm up the code paths on a tiny picture (imports, codec tables), then measure.
small = BytesIO(); Image.new("RGB", (8, 8)).save(small, "PNG")
clean_uploaded_image(SimpleUploadedFile("w", small.getvalue()), max_bytes=10**6, max_pixels=10**6)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = time.process_time(); wall = time.perf_counter()
threads = case.get("threads", 1)
errors = []
if threads == 1:
    for _ in range(case.get("repeat", 1)):
        one_upload()
else:
    barrier = threading.Barrier(threads)
    def work():
        barrier.wait()
        try:
            one_upload()
        except Exception as error:
            errors.append(repr(error))
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers: worker.start()
    for worker in workers: worker.join()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"added_mb": (after - before) / 1024, "cpu_s": time.process_time() - cpu,
                   "wall_s": time.perf_counter() - wall, "errors": errors}}))
"""


def make_inputs(directory: Path) -> dict[str, tuple[Path, str]]:
    """The test pictures, at the caps of the default settings. Flat or smooth pictures, as
    the issue's 165 KB 8000x5000 PNG: small files, full-size decodes."""
    from PIL import Image, ImageCms, ImageDraw

    def smooth(mode: str, size: tuple[int, int]) -> Image.Image:
        image = Image.linear_gradient("L").resize(size).convert(mode) if mode != "RGB" else None
        if image is None:
            grey = Image.linear_gradient("L").resize(size)
            image = Image.merge("RGB", (grey, grey.transpose(Image.Transpose.ROTATE_180), grey))
        ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=None)
        return image

    made = {}

    def save(name: str, image: Image.Image, fmt: str, **options) -> Path:
        path = directory / name
        image.save(path, fmt, **options)
        return path

    rgb_40 = smooth("RGB", (8000, 5000))
    made["png-rgb-40MP"] = save("rgb40.png", rgb_40, "PNG")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    made["png-rgb-40MP-icc"] = save("rgb40icc.png", rgb_40, "PNG", icc_profile=srgb)  # converted by LittleCMS
    made["jpeg-40MP"] = save("rgb40.jpg", rgb_40, "JPEG", quality=90)
    made["webp-40MP"] = save("rgb40.webp", rgb_40, "WEBP", quality=80)  # over the WebP cap: refused
    made["webp-10MP"] = save("rgb10.webp", rgb_40.resize((4000, 2500)), "WEBP", quality=80)
    rgba = rgb_40.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    made["png-rgba-40MP"] = save("rgba40.png", rgba, "PNG")
    del rgba, rgb_40
    made["jpeg-50MP"] = save("rgb50.jpg", smooth("RGB", (10000, 5000)), "JPEG", quality=90)
    # A strip 40000 x 1250: the copies are as thin, so the decoder still scales it down.
    made["jpeg-50MP-thin"] = save("thin50.jpg", smooth("RGB", (40000, 1250)), "JPEG", quality=90)
    wide = Image.linear_gradient("L").resize((8000, 5000)).convert("I").point(lambda v: v * 257)
    made["png-16bit-grey-40MP"] = save("grey16.png", wide.convert("I;16"), "PNG")
    del wide
    made["png-palette-40MP"] = save("p40.png", smooth("RGB", (8000, 5000)).quantize(64), "PNG")
    return {name: path for name, path in made.items()}


def run_case(path: Path, use: str, threads: int = 1, env: dict | None = None, repeat: int = 1) -> dict:
    environment = {**os.environ, **(env or {})}
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            CHILD.format(base=str(BASE_DIR)),
            json.dumps({"path": str(path), "use": use, "threads": threads, "repeat": repeat}),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=BASE_DIR,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=4, help="parallel uploads in the parallel cases")
    parser.add_argument("--only", default="", help="comma-separated input names to run")
    parser.add_argument("--make-inputs", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}

    if args.make_inputs:
        print(json.dumps({name: str(path) for name, path in make_inputs(Path(args.make_inputs)).items()}))
        return
    with tempfile.TemporaryDirectory(prefix="image_bench_") as tmp:
        # Made in another process: a child inherits its parent's ru_maxrss at fork, so this
        # process must never grow (building 40-megapixel inputs takes hundreds of MB).
        made = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--make-inputs", tmp], capture_output=True, text=True, check=True
        )
        inputs = {name: Path(path) for name, path in json.loads(made.stdout).items()}
        row = "{:<22} {:>8} {:<7} {:>7} {:>5} {:>9} {:>6} {:>6}  {}"
        print(row.format("input", "KB", "use", "threads", "slots", "added MB", "CPU s", "wall s", "result"))
        worst = 0.0

        def report(name, use, threads=1, slots=None, repeat=1):
            nonlocal worst
            env = {"IMAGE_DECODE_CONCURRENCY": str(slots)} if slots else {}
            outcome = run_case(inputs[name], use, threads, env, repeat)
            use = f"{use}x{repeat}" if repeat > 1 else use
            size_kb = inputs[name].stat().st_size / 1024
            shown_slots = slots or 1
            if "error" in outcome:
                print(
                    row.format(
                        name, f"{size_kb:.0f}", use, threads, shown_slots, "-", "-", "-", outcome["error"]
                    )
                )
                return
            note = "; ".join(sorted(set(outcome["errors"]))) or "stored"
            figures = (f"{outcome['added_mb']:.1f}", f"{outcome['cpu_s']:.2f}", f"{outcome['wall_s']:.2f}")
            print(row.format(name, f"{size_kb:.0f}", use, threads, shown_slots, *figures, note))
            if shown_slots == 1:
                worst = max(worst, outcome["added_mb"])

        for name in inputs:
            if only and name not in only:
                continue
            for use in ("avatar", "photo"):
                report(name, use)
        for name in ("png-rgb-40MP", "jpeg-50MP"):
            if only and name not in only:
                continue
            report(name, "photo", repeat=10)  # one POST of ten photos, handled one after another
            report(name, "photo", threads=args.threads)
            report(name, "photo", threads=args.threads, slots=args.threads)
        verdict = "within" if worst <= BUDGET_MB else "OVER"
        print(f"\nWorst peak added with the semaphore: {worst:.1f} MB ({verdict} the {BUDGET_MB} MB budget)")


if __name__ == "__main__":
    main()
