"""The README's figure gallery: small PNG copies of the demo's figures (`make gallery`)."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image  # matplotlib's own image library

from txai import io

GALLERY_WIDTH_PX = 900


def gallery(figures: list, folder) -> list[Path]:
    """Small PNG copies of the figures, at most GALLERY_WIDTH_PX wide, for the README."""
    written = []
    for path in map(Path, figures):
        image = Image.open(path)
        image.thumbnail((GALLERY_WIDTH_PX, GALLERY_WIDTH_PX * 10))
        target = Path(folder) / path.name
        with io.atomic_path(target) as tmp:
            image.save(tmp, format="PNG", optimize=True)
        written.append(target)
    return written


def main(argv=None) -> None:
    """python -m txai.gallery FIGURE.png ... FOLDER"""
    *figures, folder = argv if argv is not None else sys.argv[1:]
    for path in gallery(figures, folder):
        print(path)


if __name__ == "__main__":
    main()
