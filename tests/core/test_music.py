"""musicnn without TensorFlow: the checkpoint reader, the torch network and the librosa-style
front-end against numbers produced by the original package (musicnn 0.1.0 on TensorFlow
2.21 via tf.compat.v1 + tf-keras, librosa 0.11 with reflect padding as in 2019), and the
"unavailable" path the pipeline relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures_media import audio_media
from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors import logmel, music
from trailertagger.core.runtime.formats import read_tf_bundle
from trailertagger.devtools import mediagen

RATE = 16000

# sigmoid outputs of the original MSD_musicnn for ``reference_signal()``: two full 187-frame
# windows, then the 33-frame tail fed on its own (the net pools over time).
REF_WINDOWS = np.array([
    [0.02020, 0.01310, 0.01750, 0.02209, 0.26650, 0.01906, 0.01542, 0.00724, 0.00321, 0.15659,
     0.01888, 0.00819, 0.06903, 0.00232, 0.00331, 0.00443, 0.00343, 0.01438, 0.08000, 0.00907,
     0.02556, 0.00475, 0.02151, 0.20178, 0.00128, 0.00133, 0.00509, 0.00124, 0.18819, 0.01488,
     0.06235, 0.00271, 0.03587, 0.00192, 0.00247, 0.00177, 0.00066, 0.00812, 0.00196, 0.00075,
     0.00406, 0.03459, 0.00193, 0.02307, 0.00083, 0.00126, 0.00345, 0.00401, 0.01053, 0.00142],
    [0.02380, 0.01868, 0.02009, 0.02697, 0.23446, 0.02497, 0.01550, 0.00793, 0.00367, 0.14957,
     0.02211, 0.00818, 0.07612, 0.00302, 0.00416, 0.00532, 0.00392, 0.01873, 0.07124, 0.00915,
     0.04239, 0.00521, 0.02279, 0.21816, 0.00093, 0.00169, 0.00611, 0.00133, 0.17847, 0.02585,
     0.05013, 0.00351, 0.05075, 0.00196, 0.00309, 0.00176, 0.00138, 0.01007, 0.00230, 0.00078,
     0.00388, 0.02933, 0.00195, 0.02408, 0.00104, 0.00178, 0.00433, 0.00500, 0.01106, 0.00161],
])  # fmt: skip
REF_TAIL = np.array([
    0.03623, 0.01480, 0.04381, 0.11555, 0.33224, 0.02255, 0.02060, 0.01468, 0.00730, 0.02174,
    0.02931, 0.00379, 0.03678, 0.00300, 0.00384, 0.00313, 0.02475, 0.01685, 0.08624, 0.00358,
    0.05242, 0.00318, 0.01327, 0.12350, 0.00613, 0.00344, 0.01848, 0.00101, 0.18192, 0.01922,
    0.14096, 0.00289, 0.00922, 0.00738, 0.00241, 0.00289, 0.00234, 0.00479, 0.00179, 0.00178,
    0.00209, 0.05715, 0.00094, 0.01465, 0.00318, 0.00071, 0.02100, 0.00740, 0.01216, 0.00205,
])  # fmt: skip


def reference_signal(seconds: float = 6.5) -> np.ndarray:
    """Plucked-like notes (decaying harmonics) every 0.25 s plus a low click every 0.5 s."""
    t = np.arange(int(RATE * seconds)) / RATE
    out = np.zeros_like(t)
    notes = [220.0, 277.18, 329.63, 440.0, 329.63, 277.18]
    for k, start in enumerate(np.arange(0, seconds, 0.25)):
        f = notes[k % len(notes)]
        tt = t - start
        env = np.where(tt >= 0, np.exp(-np.clip(tt, 0, None) * 6.0), 0.0)
        for h in range(1, 6):
            out += env * np.sin(2 * np.pi * f * h * np.clip(tt, 0, None)) / h
    out = out + 2.0 * (np.mod(t, 0.5) < 0.01) * np.sin(2 * np.pi * 60 * t)
    return (0.15 * out / np.abs(out).max()).astype(np.float32)


@pytest.fixture(scope="module")
def tagger(offline_store):
    x = music.MusicnnExtractor()
    try:
        x.load(offline_store)
    except ModelMissingError as err:
        pytest.skip(f"musicnn weights not installed (pip install --no-deps musicnn==0.1.0): {err}")
    return x


# ---------------------------------------------------------------- pure pieces


def test_slaney_filterbank_matches_librosa_values():
    """Rows of librosa.filters.mel(sr=16000, n_fft=512, n_mels=96): peak bin, peak, area."""
    m = logmel.slaney_mel_matrix(96, 512, RATE).T
    expected = {0: (1, 0.03199922), 10: (11, 0.03041350), 50: (59, 0.01307774), 95: (248, 0.00398456)}
    for band, (peak_bin, peak) in expected.items():
        assert int(np.argmax(m[band])) == peak_bin
        assert m[band].max() == pytest.approx(peak, rel=1e-5)
    assert m[50].sum() == pytest.approx(0.03182320, rel=1e-5)


def test_window_plan():
    assert music.windows(0) == []
    assert music.windows(100) == [(0, 100)]
    assert music.windows(187 * 2 + 10) == [(0, 187), (187, 374)]  # short tail dropped
    assert music.windows(187 * 2 + 70) == [(0, 187), (187, 374), (374, 444)]


def test_log_mel_frames():
    mel = logmel.musicnn_log_mel(np.zeros(RATE * 3, np.float32))
    assert mel.shape == (1 + RATE * 3 // 256, 96) and np.all(mel == 0)
    assert logmel.musicnn_log_mel(np.zeros(0, np.float32)).shape == (0, 96)


# ---------------------------------------------------------------- real weights


def test_checkpoint_reader(offline_store):
    try:
        res = offline_store.resolve(music.MODEL_ID)
    except ModelMissingError as err:
        pytest.skip(str(err))
    weights = read_tf_bundle(music._musicnn_dir(Path(res.path)))
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["dense/kernel"].shape == (1506, 200)
    assert weights["dense_1/bias"].shape == (50,)
    assert not any("/Adam" in k for k in weights)
    assert all(np.isfinite(v).all() for v in weights.values())
    assert np.all(weights["batch_normalization_9/moving_variance"] > 0)


def test_matches_original_tensorflow_model(tagger):
    """Front-end + network end to end against the original package's outputs."""
    import torch

    mel = logmel.musicnn_log_mel(reference_signal())
    assert mel.shape == (407, 96)
    probs, starts = tagger.tag(mel)
    assert list(starts) == [0, 187]
    np.testing.assert_allclose(probs, REF_WINDOWS, atol=2e-3)
    with torch.inference_mode():
        tail = torch.sigmoid(tagger._net(torch.from_numpy(mel[374:])[None])).numpy()[0]
    np.testing.assert_allclose(tail, REF_TAIL, atol=2e-3)
    top = [music.MSD_LABELS[i] for i in np.argsort(-probs.mean(0))[:3]]
    assert top == ["electronic", "instrumental", "ambient"]


def test_extract_on_sox_music(tagger):
    wave = mediagen.music(9.5, rate=44100)  # decoded at 44.1 kHz: exercises audio_at(16000)
    feats = tagger.extract(audio_media(wave, 44100))
    assert feats.modality == "music" and feats.dim == 50 and feats.labels == list(music.MSD_LABELS)
    assert feats.length == 3  # 594 frames: three full windows; the 33-frame tail is dropped
    np.testing.assert_allclose(feats.times, np.arange(3) * 187 * 256 / RATE, atol=1e-5)
    assert np.all((feats.values > 0) & (feats.values < 1))
    assert feats.model_id == "musicnn-msd" and len(feats.weights_sha256) == 64
    print("sox music top-5:", [music.MSD_LABELS[i] for i in np.argsort(-feats.values.mean(0))[:5]])
    empty = tagger.extract(audio_media(np.zeros(0, np.float32), RATE))
    assert empty.length == 0 and empty.values.shape == (0, 50)


# ---------------------------------------------------------------- unavailable


class _EmptyStore:
    """A store where the model resolves nowhere, worded as the real store words it."""

    def resolve(self, model_id: str):
        raise ModelMissingError(f"model {model_id} not found")


def test_unavailable_is_reported_clearly():
    with pytest.raises(ModelMissingError, match="optional music extractor unavailable: model musicnn-msd"):
        music.MusicnnExtractor().load(_EmptyStore())


def test_unreadable_checkpoint_is_reported_clearly(tmp_path):
    (tmp_path / ".index").write_bytes(b"not a tensor bundle" * 4)

    class BrokenStore:
        def resolve(self, model_id):
            return type("R", (), {"path": tmp_path, "model_id": model_id, "sha256": "0" * 64})()

    with pytest.raises(ModelMissingError, match="cannot read the musicnn checkpoint"):
        music.MusicnnExtractor().load(BrokenStore())


def test_pipeline_records_missing_music(tmp_path):
    """With the extractor unavailable, a profile run records missing["music"] and goes on."""
    from trailertagger.core.config import DEFAULTS
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.pipeline import ExtractionSession

    wav = mediagen.write_wav(tmp_path / "tune.wav", mediagen.music(4.0, rate=RATE), RATE)
    session = ExtractionSession("default", dict(DEFAULTS), store=_EmptyStore(),
                                cache=FeatureCache(tmp_path / "cache"), extractors=["music.musicnn"])
    result = session.run(wav)
    assert "optional music extractor unavailable" in result.missing["music"]
    assert "music" not in result.features.modalities


def test_generated_music_is_the_same_every_time():
    """Test media must not change between runs: sox's plucked strings and noise hi-hat are
    random unless seeded (``sox -R``); unseeded, the features and the genre scores measured
    on the same script's clip moved from run to run."""
    a, b = mediagen.music(3.0), mediagen.music(3.0)
    assert np.array_equal(a, b) and np.abs(a).max() > 0.1
    assert np.array_equal(mediagen.drone(2.0), mediagen.drone(2.0))
