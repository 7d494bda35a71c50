"""Cover processing cost: how long decoding and re-encoding an upload takes, by kind of upload.

No servers: times ``bookstore_api.covers.images.process_cover`` (the work a
``PUT /api/v1/books/{id}/cover`` does besides storing two small files) on images
generated here, and the size of what it writes. Prints milliseconds (median of
``--repeat`` runs) and bytes; writes bench/results/covers.json.

    .venv/bin/python bench/covers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw

from bookstore_api.covers.images import process_cover

RESULTS = Path(__file__).resolve().parent / "results" / "covers.json"


def photo(size: tuple[int, int], fmt: str, **save) -> bytes:
    """A photo-like image (smooth noise and shapes) so the codecs have real work to do."""
    image = Image.effect_noise((size[0] // 8, size[1] // 8), 64).convert("RGB").resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 97):
        draw.ellipse([i, i // 2, i + size[0] // 4, i // 2 + size[1] // 5], outline=(200, 40, 40), width=9)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


CASES = {
    "JPEG 1600x2400 (q90)": (lambda: photo((1600, 2400), "JPEG", quality=90), "image/jpeg"),
    "JPEG 4000x6000 (q85, 24 Mpx)": (lambda: photo((4000, 6000), "JPEG", quality=85), "image/jpeg"),
    "PNG 1000x1500": (lambda: photo((1000, 1500), "PNG"), "image/png"),
    "WebP 1200x1800": (lambda: photo((1200, 1800), "WEBP", quality=85), "image/webp"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for name, (make, media_type) in CASES.items():
        data = make()
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            cover = process_cover(data, media_type)
            timings.append((time.perf_counter() - started) * 1000)
        results[name] = {
            "upload_bytes": len(data),
            "median_ms": round(statistics.median(timings), 1),
            "renditions": {f"{r.width}x{r.height}": len(r.data) for r in cover.renditions},
        }
        sizes = ", ".join(f"{k} {v:,} B" for k, v in results[name]["renditions"].items())
        print(f"{name:<30} {len(data):>11,} B  {results[name]['median_ms']:>7.1f} ms  -> {sizes}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
