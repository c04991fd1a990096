"""BEATs and the seed audio feature against the upstream implementation, on seeded weights.

Reference (``tests/fixtures/seed/beats.npz``): a scratch script (not committed) fetched
microsoft/unilm (commit 768a3c8) ``beats/BEATs.py``, ``backbone.py`` and ``modules.py`` into
/tmp, with torchaudio 2.11's ``compliance/kaldi.py`` for the filter banks; built upstream
``BEATs(BEATsConfig(BEATS_SMALL_CFG))`` (the real layout, fewer and narrower layers),
loaded ``beats_state_dict(shapes, 7)`` strictly, set ``predictor = None`` as the seed
authors do, cut ``beats_waveform()`` (4.6 s) into the seed's 3 s / 1.5 s windows and saved
the normalised filter banks (first 40 frames of window 0), the encoder output of window 0,
each window's patch-mean feature, and the state-dict shapes of the small and of the real
iter3+ configuration.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.core.seed_support import BEATS_SMALL_CFG, FIXTURES, beats_state_dict, beats_waveform
from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors.beats import (
    DEFAULT_CFG,
    MODEL_ID,
    SeedBeatsExtractor,
    build_beats,
    kaldi_fbank,
    window_starts,
)

pytestmark = pytest.mark.random_weights

REF = np.load(FIXTURES / "beats.npz")


def _shapes(key: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in json.loads(bytes(REF[key]).decode()).items()}


def _model():
    model = build_beats(BEATS_SMALL_CFG)
    model.load_state_dict(beats_state_dict(_shapes("shapes"), 7), strict=True)
    return model.eval()


def _windows():
    wave = beats_waveform()
    starts = window_starts(len(wave))
    return torch.from_numpy(np.stack([wave[s : s + 48000] for s in starts])), starts


def test_random_weights_beats_matches_upstream():
    model = _model()
    windows, starts = _windows()
    np.testing.assert_array_equal(starts, REF["starts"])
    with torch.no_grad():
        fb = model.fbank(windows)
        tokens = model.tokens(windows)
        feats = model(windows)
    assert fb.shape == (2, 298, 128) and tokens.shape == (2, 144, 48)
    np.testing.assert_allclose(fb[0, :40].numpy(), REF["fbank0"], atol=2e-4, rtol=0)
    np.testing.assert_allclose(tokens[0].numpy(), REF["tokens0"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(feats.numpy(), REF["features"], atol=1e-4, rtol=0)


def test_real_configuration_has_the_checkpoint_layout():
    with torch.device("meta"):
        model = build_beats(DEFAULT_CFG)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == _shapes("real_shapes")


def test_kaldi_fbank_edges():
    assert kaldi_fbank(torch.zeros(100)).shape == (0, 128)
    assert window_starts(48000).size == 0 and window_starts(16000 * 2).size == 0
    assert list(window_starts(72001)) == [0, 24000]


def test_random_weights_extractor_through_the_model_store(tmp_path, monkeypatch):
    from trailertagger.core.models.store import ModelStore

    folder = tmp_path / "models" / MODEL_ID
    folder.mkdir(parents=True)
    state = beats_state_dict(_shapes("shapes"), 7)
    torch.save({"cfg": dict(BEATS_SMALL_CFG), "model": state, "label_dict": {0: "/m/0"}},
               folder / "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt")
    store = ModelStore(override_dir=tmp_path / "models", cache_dir=tmp_path / "cache", allow_download=False)
    ex = SeedBeatsExtractor()
    ex.load(store, "cpu")
    rows, times = ex.embed(beats_waveform())
    np.testing.assert_allclose(rows, REF["features"], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(times, [0.0, 1.5])
    assert ex.provenance()["model_id"] == MODEL_ID


def test_extractor_without_weights_says_what_to_fetch(tmp_path):
    from trailertagger.core.models.store import ModelStore

    store = ModelStore(override_dir=tmp_path / "none", cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(ModelMissingError, match=MODEL_ID):
        SeedBeatsExtractor().load(store, "cpu")
