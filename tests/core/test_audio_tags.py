"""YAMNet's numpy front-end against independent references, and the shipped quantized YAMNet
on real synthesized audio: espeak-ng speech must read as "Speech", sox music as music."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import stft as scipy_stft

from tests.fixtures_media import audio_media
from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors import logmel
from trailertagger.core.extractors.audio_tags import PannsExtractor, YamnetExtractor
from trailertagger.core.runtime.formats import onnx_scalar_initializers
from trailertagger.devtools import mediagen

RATE = 16000


@pytest.fixture(scope="module")
def yamnet(offline_store):
    x = YamnetExtractor()
    x.load(offline_store)
    return x


# ---------------------------------------------------------------- front-end


def test_stft_magnitude_matches_scipy():
    """Framing, periodic Hann window and zero-padded FFT agree with scipy's STFT."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(RATE).astype(np.float32) * 0.1
    ours = logmel.stft_magnitude(x, 400, 160, 512)
    _, _, z = scipy_stft(x, fs=RATE, window="hann", nperseg=400, noverlap=240, nfft=512,
                         boundary=None, padded=False, detrend=False)
    ref = np.abs(z).T * logmel.periodic_hann(400).sum()  # scipy divides by the window sum
    assert ours.shape == ref.shape == (1 + (RATE - 400) // 160, 257)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("band", [5, 20, 40, 60])
def test_pure_tone_lands_in_its_mel_band(band):
    """A sine at a band's centre frequency puts the most energy in that band."""
    freq = float(logmel.yamnet_band_centers()[band])
    t = np.arange(RATE) / RATE
    mel = logmel.yamnet_log_mel((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
    assert mel.shape == (98, 64)
    assert int(np.argmax(mel.mean(axis=0))) == band
    # magnitude of a 0.5-amplitude sine through a Hann window of sum 200 is ~50 at the peak,
    # so the band (weight <= 1 at its centre) holds tens of units: log well above 3
    assert mel.mean(axis=0)[band] > 3.0
    assert mel.mean(axis=0).min() < -3.0  # far bands are near the log floor


def test_mel_matrix_shape_and_triangles():
    m = logmel.tf_mel_matrix(64, 257, RATE, 125.0, 7500.0)
    assert m.shape == (257, 64)
    assert np.all(m[0] == 0)  # DC never counts, as in TF
    assert np.all(m >= 0) and m.max() <= 1.0
    fft_freqs = np.linspace(0, RATE / 2, 257)
    peaks = fft_freqs[np.argmax(m, axis=0)]
    spacing = RATE / 512
    assert np.all(np.abs(peaks - logmel.yamnet_band_centers()) <= spacing)


def test_patches_shapes_and_times():
    wave = np.zeros(5 * RATE, np.float32)
    p = logmel.yamnet_patches(wave)
    assert p.values.shape == (6, 96, 64)
    np.testing.assert_allclose(p.starts, np.arange(6) * 0.96, atol=1e-6)
    assert np.all(p.values == np.float32(np.log(0.001)))  # silence sits at the log floor
    half = logmel.yamnet_patches(wave, hop_frames=48)
    np.testing.assert_allclose(np.diff(half.starts), 0.48, atol=1e-6)
    assert logmel.yamnet_patches(np.zeros(3000, np.float32)).values.shape == (1, 96, 64)
    assert logmel.yamnet_patches(np.zeros(0, np.float32)).values.shape == (0, 96, 64)


# ---------------------------------------------------------------- the model


def test_quantization_params_read_without_onnx(offline_store):
    """Our schema-less reader finds the same scale/zero point as the onnx package."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    path = offline_store.resolve("yamnet").path
    path = path / offline_store.spec("yamnet").main if path.is_dir() else path
    names = {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"}
    ours = onnx_scalar_initializers(path, names)
    model = onnx.load(str(path), load_external_data=False)
    ref = {i.name: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name in names}
    assert ours.keys() == names
    for name in names:
        assert ours[name] == pytest.approx(ref[name], rel=1e-7)


def top(names: list[str], scores: np.ndarray, k: int) -> list[str]:
    return [names[i] for i in np.argsort(-scores)[:k]]


def test_speech_is_speech(yamnet):
    wave = mediagen.speech(rate=RATE)
    feats = yamnet.extract(audio_media(wave, RATE))
    assert feats.modality == "audio" and feats.dim == 521 == len(feats.labels)
    assert feats.length == len(logmel.yamnet_patches(wave).starts)
    assert np.array_equal(feats.values, feats.scores)
    assert np.all((feats.values >= 0) & (feats.values <= 1))
    mean = feats.values.mean(axis=0)
    print("speech top-5:", top(feats.labels, mean, 5))
    assert top(feats.labels, mean, 1) == ["Speech"]
    assert feats.model_id == "yamnet" and len(feats.weights_sha256) == 64


def test_music_is_music(yamnet):
    wave = mediagen.music(10.0, rate=44100)  # decoded at 44.1 kHz: exercises audio_at(16000)
    feats = yamnet.extract(audio_media(wave, 44100))
    mean = feats.values.mean(axis=0)
    print("music top-5:", top(feats.labels, mean, 5))
    assert "Music" in top(feats.labels, mean, 3)
    assert feats.values[:, feats.labels.index("Speech")].max() < 0.5
    np.testing.assert_allclose(feats.times, np.arange(feats.length) * 0.96, atol=1e-5)
    assert feats.times[-1] < 10.0


def test_empty_and_short_audio(yamnet):
    empty = yamnet.extract(audio_media(np.zeros(0, np.float32), RATE))
    assert empty.length == 0 and empty.values.shape == (0, 521)
    short = yamnet.extract(audio_media(mediagen.speech(rate=RATE)[: RATE // 3], RATE))
    assert short.length == 1


def test_half_second_hop_doubles_rows(offline_store):
    x = YamnetExtractor(patch_hop_s=0.48)
    x.load(offline_store)
    feats = x.extract(audio_media(np.zeros(10 * RATE, np.float32), RATE))
    assert feats.length == 20
    assert top(feats.labels, feats.values.mean(axis=0), 1) == ["Silence"]


def test_panns_missing_weights_is_a_clear_error(offline_store):
    with pytest.raises(ModelMissingError, match="panns-cnn14"):
        PannsExtractor().load(offline_store)
