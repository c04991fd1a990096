"""Real test media made on the spot: speech (espeak-ng), music (sox), video (PyAV + PIL).

Tests and benchmarks need media whose content is known exactly (planted cuts, a spoken
sentence, an overlaid title) but which still exercises real codecs (H.264 with B-frames and
scene-cut keyframes, AAC, mp4 with ``faststart``).  Nothing here is fetched; everything is
synthesised from code, so the same seed gives the same clip on every machine.

Why the pictures look the way they do: ffmpeg's scene score (see
``trailertagger.core.media.scenes``) needs a cut to change the mean absolute pixel value by
about a quarter of the range, as real hard cuts between shots do.  Consecutive scenes
therefore alternate between a bright and a dark palette, while motion inside a scene (a
panning noise texture, drifting shapes) changes only a few percent per frame, so there is
exactly one unambiguous cut per planted boundary.

Public helpers: ``speech_wav``, ``music_wav``, ``read_wav``, ``write_wav``, ``mix``,
``make_clip``, ``make_trailer``, ``make_bad_files``.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: A plain English sentence; ASR tests compute word error rate against it.
SPEECH_SENTENCE = "The old lighthouse keeper watched the storm roll across the dark harbor tonight."
#: Two real words in capitals; OCR tests look for them.
OVERLAY_TEXT = "MIDNIGHT EXPRESS"

FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
AUDIO_RATE = 44100

TextSpec = tuple[float, float, str]


# --------------------------------------------------------------------------- audio


def _run(cmd: list[str]) -> None:
    """Run an external tool; a failure names the tool so a missing apt package is obvious."""
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except FileNotFoundError as err:
        raise RuntimeError(f"{cmd[0]} is not installed (needed to make test media)") from err
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.stderr.decode(errors='replace')}") from err


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a 16/32-bit PCM WAV as float32 mono in -1..1 (channels averaged)."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    dtype = {2: np.int16, 4: np.int32}[width]
    data = np.frombuffer(raw, dtype=dtype).astype(np.float32) / float(np.iinfo(dtype).max)
    return data.reshape(-1, channels).mean(axis=1), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write float samples (mono [N] or [N, C]) as 16-bit PCM."""
    arr = np.asarray(samples, dtype=np.float32)
    arr = arr[:, None] if arr.ndim == 1 else arr
    pcm = (np.clip(arr, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(arr.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (exact rational ratio, no drift over long tracks)."""
    if src_rate == dst_rate:
        return samples.astype(np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(src_rate, dst_rate)
    return resample_poly(samples, dst_rate // g, src_rate // g).astype(np.float32)


def speech_wav(text: str, path: Path, *, voice: str = "en-us", wpm: int = 150) -> Path:
    """Speak ``text`` with espeak-ng into a WAV (22.05 kHz mono)."""
    _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text])
    return Path(path)


def speech(text: str = SPEECH_SENTENCE, rate: int = AUDIO_RATE, *, voice: str = "en-us",
           wpm: int = 150) -> np.ndarray:
    """``text`` spoken by espeak-ng (``voice`` such as "en-gb+f3", ``wpm`` words per minute)
    as float32 mono at ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        samples, src = read_wav(speech_wav(text, Path(tmp) / "speech.wav", voice=voice, wpm=wpm))
    return resample(samples, src, rate)


# Chord roots (semitones above C) and qualities of a minor-key progression: i - VI - III - VII.
_PROGRESSION = (("A3", "C4", "E4", "A4"), ("F3", "A3", "C4", "F4"),
                ("C3", "E3", "G3", "C4"), ("G3", "B3", "D4", "G4"))


def _sox(rate: int, channels: int, effects: list[str]) -> np.ndarray:
    """Run ``sox -n`` with ``effects`` and return its output as float32 mono (raw PCM on
    stdout: no temp files, and no WAVE_FORMAT_EXTENSIBLE header for multi-channel chords).
    ``-R`` seeds sox's random generators (the plucked strings, the noise hi-hat), so the same
    call makes the same samples: test media that differed from run to run made the features
    and the genre scores measured on them differ too."""
    cmd = ["sox", "-R", "-n", "-r", str(rate), "-c", str(channels), "-b", "16", "-e", "signed-integer",
           "-L", "-t", "raw", "-", *effects]
    try:
        res = subprocess.run(cmd, check=True, capture_output=True)
    except FileNotFoundError as err:
        raise RuntimeError("sox is not installed (needed to make test media)") from err
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.stderr.decode(errors='replace')}") from err
    data = np.frombuffer(res.stdout, dtype="<i2").astype(np.float32) / 32767.0
    return data.reshape(-1, channels).mean(axis=1)


def _sox_sounds(rate: int, beat: float) -> dict[str, np.ndarray]:
    """Synthesise the instrument samples once with sox: plucked chords (one string per
    channel, mixed down), plucked bass notes, a pitch-swept kick and a noise hi-hat."""
    sounds: dict[str, np.ndarray] = {}
    for i, chord in enumerate(_PROGRESSION):
        notes = [w for n in chord for w in ("pluck", n)]
        sounds[f"chord{i}"] = _sox(rate, len(chord), [
            "synth", f"{2 * beat:.4f}", *notes, "fade", "0", f"{2 * beat:.4f}", f"{beat:.4f}"])
        root = chord[0][:-1] + str(int(chord[0][-1]) - 1)
        sounds[f"bass{i}"] = _sox(rate, 1, [
            "synth", f"{beat:.4f}", "pluck", root, "fade", "0", f"{beat:.4f}", f"{beat / 2:.4f}"])
    sounds["kick"] = _sox(rate, 1, ["synth", "0.18", "sine", "110-40", "fade", "0", "0.18", "0.14"])
    sounds["hat"] = _sox(rate, 1, ["synth", "0.05", "whitenoise", "vol", "0.5", "highpass", "7000",
                                   "fade", "0", "0.05", "0.045"])
    return sounds


def music(duration: float, rate: int = AUDIO_RATE, *, bpm: float = 112.0) -> np.ndarray:
    """A short tune: plucked minor chords and bass on a kick/hi-hat groove (float32 mono)."""
    beat = 60.0 / bpm
    n = int(round(duration * rate))
    out = np.zeros(n + rate, dtype=np.float32)
    sounds = _sox_sounds(rate, beat)

    def place(name: str, t: float, gain: float) -> None:
        s = sounds[name]
        i = int(t * rate)
        if i < n:
            out[i:i + len(s)] += gain * s[: len(out) - i]

    for b in range(int(duration / beat) + 1):
        t = b * beat
        chord = (b // 4) % len(_PROGRESSION)
        if b % 2 == 0:
            place(f"chord{chord}", t, 0.35)
        place(f"bass{chord}", t, 0.45)
        if b % 2 == 0:
            place("kick", t, 0.8)
        place("hat", t + beat / 2, 0.25)
        place("hat", t, 0.12)
    out = out[:n]
    peak = float(np.abs(out).max()) or 1.0
    return (0.7 * out / peak).astype(np.float32)


def drone(duration: float, rate: int = AUDIO_RATE, *, root: str = "A2") -> np.ndarray:
    """A slow synth pad (three detuned saw/sine voices with tremolo): another music style."""
    d = f"{duration:.3f}"
    out = _sox(rate, 3, ["synth", d, "sine", root, "sawtooth", root, "sine", "E3",
                         "tremolo", "0.5", "40", "lowpass", "1200", "fade", "0.5", d, "0.5"])
    peak = float(np.abs(out).max()) or 1.0
    return (0.6 * out / peak).astype(np.float32)


def music_wav(duration: float, path: Path, *, rate: int = AUDIO_RATE) -> Path:
    """Write ``music(duration)`` to a WAV."""
    return write_wav(path, music(duration, rate), rate)


def mix(parts: Sequence[tuple[np.ndarray, float, float]], duration: float,
        rate: int = AUDIO_RATE) -> np.ndarray:
    """Mix ``(samples, start_seconds, gain)`` parts into one track of ``duration`` seconds,
    soft-limited so overlapping parts never clip."""
    n = int(round(duration * rate))
    out = np.zeros(n, dtype=np.float32)
    for samples, start, gain in parts:
        i = int(round(start * rate))
        if i >= n:
            continue
        seg = samples[: n - i]
        out[i:i + len(seg)] += gain * seg
    return np.tanh(out).astype(np.float32)


# --------------------------------------------------------------------------- pictures

_PALETTES_BRIGHT = (
    ((250, 214, 150), (236, 130, 70), (255, 245, 225)),  # desert noon
    ((170, 215, 250), (240, 250, 255), (120, 180, 235)),  # sky
    ((200, 240, 170), (120, 200, 110), (245, 250, 210)),  # meadow
    ((250, 200, 220), (255, 240, 245), (220, 150, 190)),  # blossom
    ((235, 235, 225), (200, 200, 190), (255, 255, 250)),  # snow
)
_PALETTES_DARK = (
    ((10, 20, 55), (40, 60, 120), (5, 5, 20)),  # night blue
    ((50, 10, 10), (110, 30, 20), (15, 5, 5)),  # embers
    ((10, 40, 25), (30, 80, 50), (5, 15, 10)),  # forest night
    ((35, 20, 55), (80, 50, 110), (10, 5, 20)),  # violet dusk
    ((30, 30, 30), (70, 70, 65), (8, 8, 8)),  # smoke
)


def _palette_lut(colors: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """A 256x3 colour ramp through ``colors``: maps a grey texture onto a palette."""
    stops = np.linspace(0, 255, len(colors))
    ramp = np.arange(256)
    return np.stack([np.interp(ramp, stops, [c[k] for c in colors]) for k in range(3)],
                    axis=1).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, w: int, h: int, cells: int) -> np.ndarray:
    """Value noise: a coarse random grid upscaled bicubically (clouds, terrain, smoke)."""
    gw = max(2, cells)
    gh = max(2, int(round(cells * h / max(w, 1))))
    coarse = rng.integers(0, 256, (gh, gw), dtype=np.uint8)
    img = Image.fromarray(coarse, "L").resize((w, h), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y (full size) and U, V (2x2-averaged) of an even-sized RGB image,
    as swscale would produce them, computed once per picture so frames need no conversion."""
    f = rgb.astype(np.float32) / 255.0
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape

    def half(p: np.ndarray) -> np.ndarray:
        return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def u8(p: np.ndarray) -> np.ndarray:
        return np.clip(p + 0.5, 0, 255).astype(np.uint8)

    return u8(y), u8(half(u)), u8(half(v))


@dataclass
class _Layer:
    """An RGBA picture (a shape, a title) converted once to YUV 4:2:0 planes plus alpha."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    a: np.ndarray  # alpha for the full-size luma plane
    a2: np.ndarray  # alpha for the half-size chroma planes

    @classmethod
    def from_rgba(cls, rgba: np.ndarray) -> _Layer:
        h, w = rgba.shape[0] // 2 * 2, rgba.shape[1] // 2 * 2
        rgba = rgba[:h, :w]
        y, u, v = _rgb_to_yuv(rgba[..., :3])
        a = np.ascontiguousarray(rgba[..., 3])
        a2 = a.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).astype(np.uint8)
        return cls(y, u, v, a, a2)


class _Planes:
    """Views of one yuv420p frame buffer, laid out as PyAV's ``from_ndarray`` expects."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.buf = np.empty(w * h * 3 // 2, dtype=np.uint8)
        n = w * h
        self.y = self.buf[:n].reshape(h, w)
        self.u = self.buf[n:n + n // 4].reshape(h // 2, w // 2)
        self.v = self.buf[n + n // 4:].reshape(h // 2, w // 2)

    def frame(self) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(self.buf.reshape(self.h * 3 // 2, self.w),
                                          format="yuv420p")

    def blend(self, layer: _Layer, x: int, y: int) -> None:
        """Alpha-blend ``layer`` with its top-left at (x, y) (rounded to even), clipped."""
        x, y = x // 2 * 2, y // 2 * 2
        _blend_plane(self.y, layer.y, layer.a, x, y)
        _blend_plane(self.u, layer.u, layer.a2, x // 2, y // 2)
        _blend_plane(self.v, layer.v, layer.a2, x // 2, y // 2)


def _blend_plane(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """``dst = src * a + dst * (1 - a)`` in place over the overlapping rectangle."""
    fh, fw = dst.shape
    sh, sw = src.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, fw), min(y + sh, fh)
    if x0 >= x1 or y0 >= y1:
        return
    s = src[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)
    d = dst[y0:y1, x0:x1]
    d[...] = ((s * a + d * (255 - a)) // 255).astype(np.uint8)


@dataclass
class _Sprite:
    """A soft shape that drifts across the frame along a smooth path."""

    layer: _Layer
    x0: float
    y0: float
    vx: float
    vy: float
    wobble: float

    def position(self, t: float, w: int, h: int) -> tuple[int, int]:
        x = self.x0 * w + self.vx * w * t
        y = self.y0 * h + self.vy * h * t + self.wobble * h * math.sin(1.3 * t)
        return int(x), int(y)


def _make_sprite(rng: np.random.Generator, size: int, color: np.ndarray) -> np.ndarray:
    """A disc or rounded box with soft edges (bokeh, a sun, a window), as RGBA."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    if rng.random() < 0.5:
        draw.ellipse((2, 2, size - 3, size - 3), fill=255)
    else:
        draw.rounded_rectangle((2, 2, size - 3, size - 3), radius=size // 6, fill=255)
    alpha = np.asarray(img, dtype=np.uint8)
    rgba = np.empty((size, size, 4), dtype=np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = (alpha.astype(np.float32) * float(rng.uniform(0.55, 0.9))).astype(np.uint8)
    return rgba


class _Scene:
    """One shot: a palette-mapped noise texture with a vertical light gradient, panning
    slowly, with a few shapes drifting over it.  Texture and shapes are converted to YUV
    once, so a frame costs three slice copies plus a few small blends and the encoder gets
    yuv420p directly (no per-frame colour conversion)."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, bright: bool, speed: float):
        pad_x, pad_y = w // 4 // 2 * 2, h // 4 // 2 * 2
        palettes = _PALETTES_BRIGHT if bright else _PALETTES_DARK
        lut = _palette_lut(palettes[int(rng.integers(len(palettes)))])
        tex = 0.6 * _smooth_noise(rng, w + pad_x, h + pad_y, int(rng.integers(4, 10)))
        tex += 0.4 * _smooth_noise(rng, w + pad_x, h + pad_y, int(rng.integers(18, 40)))
        grad = np.linspace(-40, 40, h + pad_y, dtype=np.float32)[:, None]
        tex = np.clip(tex + (grad if rng.random() < 0.5 else -grad), 0, 255).astype(np.uint8)
        self.tex_y, self.tex_u, self.tex_v = _rgb_to_yuv(lut[tex])
        self.w, self.h, self.pad_x, self.pad_y = w, h, pad_x, pad_y
        angle = rng.uniform(0, 2 * math.pi)
        self.vx = math.cos(angle) * speed * w  # pixels per second
        self.vy = math.sin(angle) * speed * h
        self.ox = rng.uniform(0.2, 0.8) * pad_x
        self.oy = rng.uniform(0.2, 0.8) * pad_y
        self.sprites: list[_Sprite] = []
        for _ in range(int(rng.integers(2, 5))):
            size = max(8, int(min(w, h) * rng.uniform(0.08, 0.22)))
            # Accents from the opposite palette family: dark shapes on bright shots and
            # bright ones on dark shots, so the shapes stand out like real subjects.
            other = _PALETTES_DARK if bright else _PALETTES_BRIGHT
            tone = np.array(other[int(rng.integers(len(other)))][int(rng.integers(3))],
                            dtype=np.int32)
            accent = np.clip(tone + rng.integers(-40, 41, 3), 0, 255).astype(np.uint8)
            self.sprites.append(_Sprite(
                _Layer.from_rgba(_make_sprite(rng, size, accent)), rng.uniform(0.05, 0.8),
                rng.uniform(0.1, 0.8), rng.uniform(-0.08, 0.08), rng.uniform(-0.05, 0.05),
                rng.uniform(0.0, 0.04)))

    def render(self, t: float, out: _Planes) -> None:
        """Draw the frame ``t`` seconds into the shot (the pan bounces inside the padding)."""
        x = int(_bounce(self.ox + self.vx * t, self.pad_x)) // 2 * 2
        y = int(_bounce(self.oy + self.vy * t, self.pad_y)) // 2 * 2
        w, h = self.w, self.h
        out.y[...] = self.tex_y[y:y + h, x:x + w]
        out.u[...] = self.tex_u[y // 2:y // 2 + h // 2, x // 2:x // 2 + w // 2]
        out.v[...] = self.tex_v[y // 2:y // 2 + h // 2, x // 2:x // 2 + w // 2]
        for s in self.sprites:
            out.blend(s.layer, *s.position(t, w, h))


def _bounce(v: float, limit: int) -> float:
    """Reflect ``v`` into [0, limit] so a long shot keeps panning without running off."""
    if limit <= 0:
        return 0.0
    period = 2 * limit
    v = v % period
    return v if v <= limit else period - v


def _fit_font(text: str, max_w: int, max_h: int) -> ImageFont.FreeTypeFont:
    """The largest bold DejaVu size whose rendering of ``text`` fits in max_w x max_h."""
    size = max(8, max_h)
    while size > 8:
        font = ImageFont.truetype(str(FONT_BOLD), size)
        x0, y0, x1, y1 = font.getbbox(text, stroke_width=max(1, size // 14))
        if x1 - x0 <= max_w and y1 - y0 <= max_h:
            return font
        size = int(size * 0.9)
    return ImageFont.truetype(str(FONT_BOLD), 8)


def render_text(text: str, w: int, h: int, *, height_frac: float = 0.16,
                width_frac: float = 0.9) -> tuple[np.ndarray, int, int]:
    """White bold capitals with a black outline, centred: returns (rgba, x, y).

    The outline keeps the words legible on bright and dark scenes alike, as title cards do.
    """
    font = _fit_font(text, int(w * width_frac), int(h * height_frac))
    stroke = max(1, font.size // 14)
    x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke)
    img = Image.new("RGBA", (x1 - x0 + 4, y1 - y0 + 4), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((2 - x0, 2 - y0), text, font=font, fill=(255, 255, 255, 255),
                             stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(img, dtype=np.uint8)
    return rgba, (w - rgba.shape[1]) // 2, (h - rgba.shape[0]) // 2


# --------------------------------------------------------------------------- encoding


def _video_codec() -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _audio_frames(track: np.ndarray, rate: int, channels: int, start: int, stop: int,
                  frame_size: int = 1024):
    """AudioFrames (planar float) covering samples [start, stop) of a mono track; stereo
    output gets a slight pan so downmixing to mono is exercised for real."""
    for i in range(start, stop, frame_size):
        chunk = track[i:min(i + frame_size, stop)]
        if channels == 2:
            planes = np.stack([chunk * 0.9, chunk * 1.0]).astype(np.float32)
        else:
            planes = chunk[None, :].astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format="fltp",
                                           layout="stereo" if channels == 2 else "mono")
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        yield frame


def _audio_track(audio: str | np.ndarray | None, duration: float, rate: int) -> np.ndarray | None:
    """Resolve ``make_clip``'s ``audio`` argument into a mono float32 track."""
    if audio is None:
        return None
    if isinstance(audio, np.ndarray):
        track = audio.astype(np.float32)
    else:
        kinds = set(audio.split("+"))
        unknown = kinds - {"speech", "music"}
        if unknown:
            raise ValueError(f"unknown audio kind(s) {sorted(unknown)}; use speech, music")
        parts: list[tuple[np.ndarray, float, float]] = []
        if "music" in kinds:
            parts.append((music(duration, rate), 0.0, 0.35 if "speech" in kinds else 0.8))
        if "speech" in kinds:
            parts.append((speech(SPEECH_SENTENCE, rate), 0.5, 0.9))
        track = mix(parts, duration, rate)
    n = int(round(duration * rate))
    return np.pad(track[:n], (0, max(0, n - len(track))))


def make_clip(path: Path, *, duration: float, size: tuple[int, int] = (320, 240),
              fps: int = 24, cuts: Sequence[float] = (), text: Sequence[TextSpec] = (),
              audio: str | np.ndarray | None = "music", video: bool = True, seed: int = 0,
              audio_rate: int = AUDIO_RATE, audio_channels: int = 2,
              scene_speed: float = 0.03, faststart: bool = True,
              background: Sequence[np.ndarray] | None = None,
              codec: str | None = None) -> Path:
    """Encode a clip: H.264 (libx264, else MPEG-4 Part 2) + AAC in mp4 (m4a without video).

    ``cuts`` are the first-frame times of new scenes (round them to frame times to plant an
    exact cut); ``text`` lists ``(t0, t1, words)`` overlays; ``audio`` is ``"speech"``,
    ``"music"``, ``"speech+music"``, a float32 mono array at ``audio_rate``, or None.
    ``faststart`` puts the index first so a truncated copy still plays up to where it ends.
    ``background``: RGB frames (``[h, w, 3]`` uint8, e.g. scenery from a real clip) shown in
    turn, spread over the clip, instead of the generated scenes.
    ``codec`` picks another video encoder (``"libx265"`` for HEVC; the container follows
    the suffix).
    """
    path = Path(path)
    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"size must be even for yuv420p, got {size}")
    if not video and audio is None:
        raise ValueError("a clip needs video or audio")
    track = _audio_track(audio, duration, audio_rate)
    n_frames = int(round(duration * fps))
    bounds = [0.0, *sorted(float(c) for c in cuts), float(duration)]
    overlays = []
    for t0, t1, words in text:
        rgba, x, y = render_text(words, w, h)
        overlays.append((t0, t1, _Layer.from_rgba(rgba), x, y))

    opts = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov", ".m4a") else {}
    with av.open(str(path), "w", container_options=opts) as out:
        vstream = astream = None
        if video:
            vstream = out.add_stream(codec or _video_codec(), rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = w, h, "yuv420p"
            vstream.codec_context.thread_type = "FRAME"
            if vstream.codec_context.name == "libx265":
                vstream.options = {"preset": "ultrafast", "crf": "28",
                                   "x265-params": "log-level=error"}
            elif vstream.codec_context.name == "libx264":
                # superfast keeps B-frames, CABAC and scene-cut key frames (what real
                # trailers have) at about half of veryfast's encoding time.
                vstream.options = {"preset": "superfast", "crf": "23"}
            else:
                vstream.bit_rate = 2_000_000
        if track is not None:
            astream = out.add_stream("aac", rate=audio_rate)
            astream.layout = "stereo" if audio_channels == 2 else "mono"
            astream.bit_rate = 128_000
            astream.options = {"aac_coder": "fast"}  # ~2x faster, plenty for tests

        audio_done = 0
        n_audio = 0 if track is None else len(track)

        def push_audio(until: int) -> None:
            nonlocal audio_done
            until = min(until, n_audio)
            if astream is None or until <= audio_done:
                return
            # Whole 1024-sample frames only until the end, so pts stay contiguous.
            stop = until if until == n_audio else audio_done + (until - audio_done) // 1024 * 1024
            for frame in _audio_frames(track, audio_rate, audio_channels, audio_done, stop):
                out.mux(astream.encode(frame))
            audio_done = stop

        if vstream is not None:
            scenes: dict[int, _Scene] = {}
            planes = _Planes(w, h)
            bg = [_rgb_to_yuv(np.ascontiguousarray(f[:h, :w, :3])) for f in (background or [])]
            for i in range(n_frames):
                t = i / fps
                if bg:
                    by, bu, bv = bg[min(len(bg) - 1, i * len(bg) // max(n_frames, 1))]
                    planes.y[:], planes.u[:], planes.v[:] = by, bu, bv
                    for t0, t1, layer, x, y in overlays:
                        if t0 <= t < t1:
                            planes.blend(layer, x, y)
                    frame = planes.frame()
                    frame.pts = i
                    frame.time_base = Fraction(1, fps)
                    out.mux(vstream.encode(frame))
                    push_audio(int((i + 1) / fps * audio_rate))
                    continue
                k = max(0, int(np.searchsorted(bounds, t + 1e-9, side="right")) - 1)
                k = min(k, len(bounds) - 2)
                if k not in scenes:
                    scenes.clear()  # one scene alive at a time keeps memory flat
                    scenes[k] = _Scene(np.random.default_rng([seed, k]), w, h,
                                       bright=k % 2 == 0, speed=scene_speed)
                scenes[k].render(t - bounds[k], planes)
                for t0, t1, layer, x, y in overlays:
                    if t0 <= t < t1:
                        planes.blend(layer, x, y)
                frame = planes.frame()
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                out.mux(vstream.encode(frame))
                push_audio(int((i + 1) / fps * audio_rate))
            out.mux(vstream.encode(None))
        push_audio(n_audio)
        if astream is not None:
            out.mux(astream.encode(None))
    return path


def make_trailer(path: Path, duration: float = 120.0, size: tuple[int, int] = (1280, 720),
                 fps: int = 24, seed: int = 0, codec: str | None = None) -> tuple[Path, list[float]]:
    """A synthetic trailer for benchmarks: 2-4 s shots, title cards, speech over music.

    Returns the path and the planted cut times (frame-aligned), so a benchmark can also
    check the detector.  Shots alternate bright/dark, so every cut is a real hard cut.
    """
    rng = np.random.default_rng(seed)
    cuts: list[float] = []
    t = 0.0
    while True:
        t += float(rng.uniform(2.0, 4.0))
        t = round(t * fps) / fps
        if t >= duration - 1.0:
            break
        cuts.append(t)
    titles = ("THIS SUMMER", OVERLAY_TEXT, "COMING SOON", "ONE NIGHT", "NO WAY BACK")
    text: list[TextSpec] = []
    for j, start in enumerate(cuts[2::5]):
        text.append((start + 0.3, start + 1.8, titles[j % len(titles)]))
    rate = AUDIO_RATE
    parts = [(music(duration, rate), 0.0, 0.4)]
    voice = speech(SPEECH_SENTENCE, rate)
    gap = len(voice) / rate + 4.0
    k = 1.0
    while k + len(voice) / rate < duration:
        parts.append((voice, k, 0.9))
        k += gap
    track = mix(parts, duration, rate)
    make_clip(path, duration=duration, size=size, fps=fps, cuts=cuts, text=text,
              audio=track, seed=seed, audio_rate=rate, codec=codec)
    return Path(path), cuts


# --------------------------------------------------------------------------- bad files


def make_bad_files(directory: Path, *, size: tuple[int, int] = (320, 240)) -> dict[str, Path]:
    """Files that must fail cleanly (or decode partially), keyed by what is wrong.

    * ``zero_length``: an empty ``.mp4``.
    * ``truncated``: a real clip (faststart, so the index survives) cut at 40% of its bytes.
    * ``random_bytes``: 64 KiB of seeded noise named ``.mp4``.
    * ``audio_only`` (``.m4a``), ``video_only`` (``.mp4``): valid clips missing a stream.
    * ``unicode_name``: a valid clip named with spaces, umlauts, a check mark and brackets.
    * ``subtitles_only``: an ``.srt`` file: a container ffmpeg opens, with no A/V stream.
    * ``unreadable``: a *directory* named ``.mp4``.  Tests run as root, where ``chmod 000``
      does not stop reads, so permission bits cannot make an unreadable file; opening a
      directory fails with EISDIR on every platform and user.
    * ``not_found``: a path that does not exist.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    files["zero_length"] = d / "empty trailer.mp4"
    files["zero_length"].write_bytes(b"")

    full = make_clip(d / "full clip.mp4", duration=4.0, size=size, cuts=[2.0], seed=11)
    data = full.read_bytes()
    files["truncated"] = d / "truncated trailer.mp4"
    files["truncated"].write_bytes(data[: int(len(data) * 0.4)])
    full.unlink()

    files["random_bytes"] = d / "random bytes.mp4"
    files["random_bytes"].write_bytes(
        np.random.default_rng(1234).integers(0, 256, 65536, dtype=np.uint8).tobytes())

    files["audio_only"] = make_clip(d / "audio only.m4a", duration=3.0, audio="music",
                                    video=False, seed=12)
    files["video_only"] = make_clip(d / "video only.mp4", duration=3.0, size=size, audio=None,
                                    cuts=[1.5], seed=13)
    files["unicode_name"] = make_clip(d / "bände trailer ✓ (2024).mp4", duration=3.0, size=size,
                                      cuts=[1.5], seed=14)
    files["subtitles_only"] = d / "subtitles only.srt"
    files["subtitles_only"].write_text(
        "1\n00:00:01,000 --> 00:00:03,000\nHello there.\n\n"
        "2\n00:00:04,000 --> 00:00:05,500\nGoodbye.\n", encoding="utf-8")

    files["unreadable"] = d / "unreadable trailer.mp4"
    if files["unreadable"].exists() and not files["unreadable"].is_dir():
        files["unreadable"].unlink()
    files["unreadable"].mkdir(exist_ok=True)

    files["not_found"] = d / "missing trailer.mp4"
    if files["not_found"].exists():
        if files["not_found"].is_dir():
            shutil.rmtree(files["not_found"])
        else:
            files["not_found"].unlink()
    return files


# --------------------------------------------------------------------------- films


@dataclass(frozen=True)
class AudioTrack:
    """An extra audio track for ``add_tracks``: mono samples and how the container tags it."""

    samples: np.ndarray
    rate: int = 16000
    language: str = ""
    title: str = ""
    flags: tuple[str, ...] = ()  # av.stream.Disposition names: "default", "comment", "dub"


@dataclass(frozen=True)
class SubtitleTrack:
    """An embedded subtitle track for ``add_tracks``: ``(start, end, text)`` cues."""

    cues: tuple[tuple[float, float, str], ...]
    language: str = ""
    codec: str = "srt"  # "srt" (SubRip) or "ass"
    flags: tuple[str, ...] = ()


def write_subtitles(path: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    """Write ``cues`` as a subtitle file; the format follows the suffix (.srt, .ass, .vtt)."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for start, end, text in cues:
        subs.append(pysubs2.SSAEvent(start=int(round(start * 1000)), end=int(round(end * 1000)),
                                     text=text))
    subs.save(str(path), encoding="utf-8")
    return Path(path)


def _disposition(flags: Sequence[str]) -> int:
    value = 0
    for f in flags:
        value |= int(getattr(av.stream.Disposition, f))
    return value


def add_tracks(src: Path, out_path: Path, *, audio: Sequence[AudioTrack] = (),
               subtitles: Sequence[SubtitleTrack] = (), src_audio_language: str = "",
               src_audio_flags: tuple[str, ...] = ()) -> Path:
    """Copy ``src``'s streams into a Matroska file with extra audio and subtitle tracks.

    Video and audio packets are copied untouched (no re-encoding); extra audio tracks are
    encoded to AAC; subtitle tracks are written as ``.srt``/``.ass`` files and their packets
    remuxed (ffmpeg's text subtitle encoders need a header PyAV does not set, but remuxing a
    parsed subtitle file is exactly what mkvmerge-made films contain).  Packets of all
    streams are interleaved by time, as a real muxer writes them.
    """
    src, out_path = Path(src), Path(out_path)
    tmp = Path(tempfile.mkdtemp(prefix="tt-subs-"))
    inputs = []
    try:
        with av.open(str(src)) as inp, av.open(str(out_path), "w", format="matroska") as out:
            queue: list[tuple[float, int, av.Packet]] = []
            order = 0
            mapping = {}
            for s in inp.streams:
                if s.type not in ("video", "audio"):
                    continue
                o = out.add_stream_from_template(s)
                if s.type == "audio":
                    if src_audio_language:
                        o.metadata["language"] = src_audio_language
                    o.disposition = _disposition(src_audio_flags or ("default",))
                mapping[s.index] = o
            for pkt in inp.demux(*[inp.streams[i] for i in mapping]):
                if pkt.dts is None:
                    continue
                t = float(pkt.dts * pkt.time_base)
                pkt.stream = mapping[pkt.stream.index]
                queue.append((t, order, pkt))
                order += 1
            for track in audio:
                st = out.add_stream("aac", rate=track.rate)
                st.layout = "mono"
                if track.language:
                    st.metadata["language"] = track.language
                if track.title:
                    st.metadata["title"] = track.title
                st.disposition = _disposition(track.flags)
                frames = _audio_frames(np.asarray(track.samples, np.float32), track.rate, 1, 0,
                                       len(track.samples))
                for frame in frames:
                    for pkt in st.encode(frame):
                        queue.append((float(pkt.pts * pkt.time_base), order, pkt))
                        order += 1
                for pkt in st.encode(None):
                    queue.append((float(pkt.pts * pkt.time_base), order, pkt))
                    order += 1
            for k, sub in enumerate(subtitles):
                f = write_subtitles(tmp / f"track{k}.{sub.codec}", sub.cues)
                sin = av.open(str(f))
                inputs.append(sin)
                st = out.add_stream_from_template(sin.streams[0])
                if sub.language:
                    st.metadata["language"] = sub.language
                st.disposition = _disposition(sub.flags)
                for pkt in sin.demux(sin.streams[0]):
                    if pkt.dts is None:
                        continue
                    t = float(pkt.dts * pkt.time_base)
                    pkt.stream = st
                    queue.append((t, order, pkt))
                    order += 1
            queue.sort(key=lambda q: (q[0], q[1]))
            for _, _, pkt in queue:
                out.mux(pkt)
    finally:
        for sin in inputs:
            sin.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out_path


def concat_clips(out_path: Path, clips: Sequence[Path], *, size: tuple[int, int] = (640, 360),
                 fps: int = 24, audio_rate: int = AUDIO_RATE, max_seconds: float | None = None) -> Path:
    """Decode ``clips`` and re-encode them one after another into one H.264 + AAC mp4.

    Used to make long "films" from the labelled corpus for the sampling-fidelity check: the
    pictures are scaled to ``size`` and the sound is resampled to mono ``audio_rate``.
    """
    out_path = Path(out_path)
    with av.open(str(out_path), "w", container_options={"movflags": "+faststart"}) as out:
        vs = out.add_stream(_video_codec(), rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        if vs.codec_context.name == "libx264":
            vs.options = {"preset": "superfast", "crf": "26"}
        as_ = out.add_stream("aac", rate=audio_rate)
        as_.layout = "mono"
        as_.options = {"aac_coder": "fast"}
        vi = 0
        t_offset = 0.0
        audio_done = 0
        for clip in clips:
            wave = _decode_mono(clip, audio_rate)
            with av.open(str(clip)) as inp:
                vin = inp.streams.video[0]
                vin.thread_type = "AUTO"
                for frame in inp.decode(vin):
                    t = frame.time or 0.0
                    if max_seconds is not None and t >= max_seconds:
                        break
                    # constant frame rate out: drop or repeat to keep the clock
                    while vi < int(round((t_offset + t) * fps)) + 1:
                        f = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                        f.pts = vi
                        f.time_base = Fraction(1, fps)
                        out.mux(vs.encode(f))
                        vi += 1
            length = vi / fps - t_offset
            seg = wave[: int(length * audio_rate)]
            seg = np.pad(seg, (0, max(0, int(length * audio_rate) - len(seg))))
            for frame in _audio_frames(seg, audio_rate, 1, 0, len(seg)):
                frame.pts = audio_done + frame.pts
                out.mux(as_.encode(frame))
            audio_done += len(seg)
            t_offset = vi / fps
        out.mux(vs.encode(None))
        out.mux(as_.encode(None))
    return out_path


def _decode_mono(path: Path, rate: int) -> np.ndarray:
    from av.audio.resampler import AudioResampler

    chunks = []
    with av.open(str(path)) as inp:
        if not inp.streams.audio:
            return np.zeros(0, np.float32)
        res = AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in inp.decode(inp.streams.audio[0]):
            for o in res.resample(frame):
                chunks.append(o.to_ndarray().reshape(-1))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def concat_remux(out_path: Path, segments: Sequence[Path], seconds: float) -> Path:
    """Join ``segments`` (same codecs and sizes, e.g. ``make_trailer`` outputs) end to end,
    cycling through them until ``seconds``, by copying packets (no re-encoding): long test
    "films" in seconds instead of the hour real encoding would take.  Each stream's
    timestamps continue where that stream's previous segment ended."""
    out_path = Path(out_path)
    opts = {"movflags": "+faststart"} if out_path.suffix == ".mp4" else {}
    with av.open(str(segments[0])) as first, av.open(str(out_path), "w", container_options=opts) as out:
        ostreams = [out.add_stream_from_template(s) for s in first.streams
                    if s.type in ("video", "audio")]
        kinds = [s.type for s in ostreams]
        offsets = [0.0] * len(ostreams)  # seconds, per output stream
        k = 0
        while min(offsets[i] for i, kd in enumerate(kinds) if kd == "video") < seconds:
            with av.open(str(segments[k % len(segments)])) as seg:
                ins = [s for s in seg.streams if s.type in ("video", "audio")]
                ends = list(offsets)
                shifts: dict[int, int] = {}
                for pkt in seg.demux(*ins):
                    if pkt.dts is None:
                        continue
                    j = ins.index(pkt.stream)
                    tb = pkt.time_base
                    if j not in shifts:  # the segment's first dts lands on the previous end
                        shifts[j] = int(round(offsets[j] / tb)) - min(0, int(pkt.dts))
                    shift = shifts[j]
                    if float((pkt.dts + shift) * tb) >= seconds:
                        continue  # cut in decoding order: what is kept always decodes
                    pkt.pts = None if pkt.pts is None else pkt.pts + shift
                    pkt.dts = pkt.dts + shift
                    end = float((max(pkt.pts or 0, pkt.dts) + (pkt.duration or 0)) * tb)
                    ends[j] = max(ends[j], end)
                    pkt.stream = ostreams[j]
                    out.mux(pkt)
                if ends == offsets:
                    break  # nothing added (an empty segment): stop rather than loop
                offsets = ends
            k += 1
    return out_path
