"""``train --from-library``: a personal head from corrected videos' cached features.

Features are synthetic (planted genre signal) but go through the real feature cache, the real
library and real training/ONNX export; the current head is a stand-in with known quality.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from trailertagger.core.classify.runtime import ACTIVE_FILE, active_head_dir
from trailertagger.core.classify.train import TrainConfig
from trailertagger.core.errors import ConfigError
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import (
    active_head_key,
    note_active_head,
    store_predictions,
)
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import Library, open_library
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.personal_head import CONSTANT_BASELINE, train_personal_head
from trailertagger.core.library.queries import get_video
from trailertagger.core.paths import app_dirs

PLANTED = ("Horror", "Comedy", "Drama")
FAST = TrainConfig(model="mlp", mlp_hidden=32, epochs=25, batch_size=8, lr=3e-3, threads=1,
                   device="cpu", modality_dropout=0.0, seed=0)


def _features(chash: str, truth: set[str], rng: np.random.Generator, dim: int = 12) -> FeatureSet:
    x = rng.normal(0, 1, (6, dim)).astype(np.float32)
    for i, g in enumerate(PLANTED):
        x[:, i] += 2.5 if g in truth else -2.5
    mod = ModalityFeatures("image", x, np.arange(6, dtype=np.float32), "synthetic", "1",
                           "synthetic", "")
    return FeatureSet(chash, 6.0, {"image": mod}, {}, "default")


class FixedHead:
    """A current head with known answers: ``oracle`` is always right, otherwise random."""

    kind = "onnx"
    version = "1"

    def __init__(self, truth: dict[str, set[str]], oracle: bool) -> None:
        self.model_id = "oracle" if oracle else "coin-flip"
        self.truth, self.oracle = truth, oracle
        self.rng = np.random.default_rng(5)
        self.thresholds = dict.fromkeys(GENRES, 0.5)

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        if self.oracle:
            return {g: float(g in self.truth[fs.content_hash]) for g in GENRES}
        return {g: float(self.rng.random()) for g in GENRES}


class RightButForHorror(FixedHead):
    """Perfect on every genre but Horror, where it guesses."""

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        out = {g: 0.9 * (g in self.truth[fs.content_hash]) for g in GENRES}
        out["Horror"] = float(self.rng.random())
        return out


def _library(n: int, cached: int | None = None, seed: int = 0,
             corrected: tuple[str, ...] = PLANTED) -> tuple[Library, dict[str, set[str]]]:
    """``n`` videos classified by a coin-flip head, then corrected to the truth by the user.

    Genres outside ``corrected`` are predicted right (so their effective labels are true).
    """
    rng = np.random.default_rng(seed)
    cache = FeatureCache(app_dirs().features)
    lib = open_library(app_dirs().library_db)
    truth: dict[str, set[str]] = {}
    with lib.session() as s:
        head, _ = note_active_head(s, "coin-flip", "1", "onnx")
        for i in range(n):
            chash = f"tt1:{i:064x}"
            genres = {g for g in PLANTED if rng.random() < 0.45} or {PLANTED[i % 3]}
            truth[chash] = genres
            v = new_video(s, f"/films/film {i}.mp4", 1000 + i, 1)
            v.content_hash = chash
            store_predictions(s, v, head, {g: float(rng.random()) if g in corrected
                                           else 0.9 * (g in genres) for g in PLANTED})
            if cached is None or i < cached:
                cache.save(_features(chash, genres, rng))
    with lib.read() as s:
        ids = {get_video(s, f"/films/film {i}.mp4").content_hash: get_video(s, f"/films/film {i}.mp4").id
               for i in range(n)}
    for chash, genres in truth.items():
        ops = [("+" if g in genres else "-") + g for g in corrected]
        apply_changes(lib, [ids[chash]], parse_changes(ops))
    return lib, truth


def test_personal_head_beats_a_poor_head_and_is_activated() -> None:
    lib, truth = _library(30, cached=28)
    with lib:
        rep = train_personal_head(lib, app_dirs(), config=FAST, current_head=FixedHead(truth, False),
                                  folds=4, min_videos=10)
        assert rep.corrected == 30 and rep.used == 28 and len(rep.skipped) == 2
        assert all("not in the cache" in why for _, why in rep.skipped)
        assert rep.modalities == ["image"] and rep.folds == 4
        assert rep.personal_map > 0.9 > rep.current_map
        assert rep.better and rep.activated and rep.head_dir is not None
        assert active_head_dir(app_dirs()).resolve() == rep.head_dir.resolve()
        card = json.loads((rep.head_dir / "card.json").read_text())
        assert card["extra"]["evaluation"]["current_head"] == "coin-flip"
        assert card["metrics"]["macro_map"] == pytest.approx(rep.personal_map)
        # the new head's predictions are current; the coin-flip head's rows are now stale
        with lib.read() as s:
            assert active_head_key(s) == (card["model_id"], card["version"])
            assert get_video(s, "/films/film 0.mp4").stale
        from trailertagger.core.classify.runtime import load_head

        head = load_head(rep.head_dir)
        fs = FeatureCache(app_dirs().features).load(f"tt1:{0:064x}")
        probs = head.predict(fs)
        on = {g for g in GENRES if probs[g] >= head.thresholds[g]}
        assert on == truth[f"tt1:{0:064x}"]
        assert "activated" in rep.summary()


def test_personal_head_is_not_activated_when_the_current_head_is_better() -> None:
    lib, truth = _library(16)
    with lib:
        rep = train_personal_head(lib, app_dirs(), config=FAST, current_head=FixedHead(truth, True),
                                  folds=3, min_videos=10)
    assert rep.current_map == pytest.approx(1.0)
    assert not rep.better and not rep.activated and rep.head_dir is None
    assert not (app_dirs().heads / ACTIVE_FILE).exists()
    assert not app_dirs().heads.exists() or not any(app_dirs().heads.iterdir())
    assert "current head stays active" in rep.summary()


def test_unusable_current_head_is_compared_with_a_constant_predictor() -> None:
    lib, _truth = _library(12)

    class Broken:
        model_id = "zero-shot"

        def predict(self, fs: FeatureSet) -> dict[str, float]:
            raise FileNotFoundError("clip weights not installed")

    with lib:
        rep = train_personal_head(lib, app_dirs(), config=FAST, current_head=Broken(), folds=3,
                                  min_videos=10, export=False)
    assert CONSTANT_BASELINE in rep.current_model and "clip weights not installed" in rep.current_note
    assert rep.better and rep.head_dir is None and not rep.activated


def test_too_few_corrected_videos_is_a_clear_error() -> None:
    lib, truth = _library(12, cached=4)
    with lib, pytest.raises(ConfigError, match=r"only 4 labelled video\(s\) with cached features \(12"):
        train_personal_head(lib, app_dirs(), config=FAST, current_head=FixedHead(truth, False),
                            min_videos=10)


def test_inconsistent_dims_keep_the_majority() -> None:
    from trailertagger.core.library.personal_head import CorrectedSample, harmonise_modalities

    rng = np.random.default_rng(0)
    samples = [CorrectedSample(i, f"/v{i}", _features(f"tt1:{i}", {"Horror"}, rng, 12 if i else 7),
                               np.zeros(21, np.float32)) for i in range(3)]
    kept, dropped = harmonise_modalities(samples)
    assert kept == ["image"] and dropped == {}
    assert "image" not in samples[0].features.modalities
    assert "dim 7" in samples[0].features.missing["image"]
    assert samples[1].features.modalities["image"].dim == 12


def test_a_modality_only_one_video_has_does_not_break_the_folds() -> None:
    lib, truth = _library(12)
    cache = FeatureCache(app_dirs().features)
    fs = cache.load(f"tt1:{0:064x}")
    fs.modalities["ocr"] = ModalityFeatures("ocr", np.ones((2, 4), np.float32),
                                            np.zeros(2, np.float32), "synthetic", "1", "s", "")
    cache.save(fs)
    with lib:
        rep = train_personal_head(lib, app_dirs(), config=FAST, current_head=FixedHead(truth, False),
                                  folds=3, min_videos=10)
    assert rep.modalities == ["image", "ocr"] and rep.used == 12 and rep.better


def test_the_decision_looks_at_the_genres_the_user_corrected() -> None:
    lib, truth = _library(20, corrected=("Horror",))
    with lib:
        rep = train_personal_head(lib, app_dirs(), config=FAST, folds=4, min_videos=10,
                                  current_head=RightButForHorror(truth, False), export=False)
    assert rep.genres == ["Horror"]
    # on every genre the current head is right by construction; on Horror it guesses
    assert rep.current_map_all > rep.current_map
    assert rep.personal_map > 0.9 > 0.8 > rep.current_map
    assert rep.better
    assert "over the 1 genre(s) you corrected (Horror)" in rep.summary()
