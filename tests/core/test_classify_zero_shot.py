"""The label-free cold-start head, with the real bundled sentence embedder (MiniLM).

Evidence is built the way the extractors build it: transcript/OCR rows are real MiniLM
embeddings of their texts, tag modalities carry class names and scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.classify import runtime
from trailertagger.core.classify.zero_shot import ZeroShotHead, genre_descriptions, top_tags
from trailertagger.core.extractors.text_embed import get_text_embedder
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES
from trailertagger.core.models.store import ModelStore
from trailertagger.devtools.synthetic import MOVIENET_PREVALENCE


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore.from_config({})


@pytest.fixture(scope="module")
def head(store) -> ZeroShotHead:
    return ZeroShotHead(store)


def _text(store, modality: str, texts: list[str]) -> ModalityFeatures:
    emb = get_text_embedder(store)
    return ModalityFeatures(modality, emb.embed(texts), np.arange(len(texts)), f"{modality}.x", "1",
                            "minilm-l6-v2", emb.weights_sha256, texts=texts)


def _tags(modality: str, labels: list[str], top: dict[str, float], t: int = 4) -> ModalityFeatures:
    scores = np.full((t, len(labels)), 0.01, dtype=np.float32)
    for name, s in top.items():
        scores[:, labels.index(name)] = s
    return ModalityFeatures(modality, scores, np.arange(t), f"{modality}.x", "1", "m", "",
                            labels=labels, scores=scores)


def test_descriptions_cover_every_genre_and_priors_match_movienet() -> None:
    d = genre_descriptions()
    assert set(d.priors) == set(GENRES)
    for g in GENRES:
        assert d.priors[g] == pytest.approx(MOVIENET_PREVALENCE[g])
        assert d.facets["story"][g] and d.facets["sounds"][g]


def test_no_evidence_gives_the_prior(head, store) -> None:
    before = ZeroShotHead(store).version  # not loaded yet: the library keys predictions by it
    p = head.predict(FeatureSet("empty", 3.0))
    assert head.version == before
    assert set(p) == set(GENRES)
    for g in GENRES:
        assert p[g] == pytest.approx(MOVIENET_PREVALENCE[g], abs=1e-6)
    assert isinstance(head, runtime.GenreHead)
    assert head.kind == "zero-shot" and head.version.startswith("1-")
    assert all(0 < t <= 0.5 for t in head.thresholds.values())


@pytest.mark.parametrize(("text", "genre"), [
    ("Don't open the cellar door. Something has been scratching down there every night, "
     "and now it knows our names.", "Horror"),
    ("Two minutes left in the championship game and the team is down by three points. "
     "Coach calls timeout.", "Sport"),
    ("Captain, the reactor is failing and the alien fleet is jumping out of hyperspace "
     "above the colony.", "Sci-Fi"),
    ("The sheriff rode into the dusty frontier town with his six-shooter, and the outlaws "
     "waited at the saloon.", "Western"),
])
def test_transcript_moves_the_right_genre_up(head, store, text, genre) -> None:
    fs = FeatureSet("v", 30.0, {"asr": _text(store, "asr", [text])})
    p = head.predict(fs)
    ranked = sorted(p, key=lambda g: (p[g] - MOVIENET_PREVALENCE[g]) / MOVIENET_PREVALENCE[g], reverse=True)
    assert genre in ranked[:2], head.explain(fs)
    assert p[genre] > 2 * MOVIENET_PREVALENCE[genre]


def test_tags_and_ranking_across_videos(head, store) -> None:
    audio_labels = ["Speech", "Music", "Gunshot, gunfire", "Explosion", "Laughter", "Giggle",
                    "Bird", "Horse"]
    war = _tags("audio", audio_labels, {"Speech": 0.9, "Gunshot, gunfire": 0.6, "Explosion": 0.5})
    laugh = _tags("audio", audio_labels, {"Speech": 0.9, "Laughter": 0.7, "Giggle": 0.4})
    assert top_tags(war, 2) == ["Gunshot", "Explosion"]  # "Speech" says nothing: skipped
    p_war = head.predict(FeatureSet("a", 9.0, {"audio": war}))
    p_laugh = head.predict(FeatureSet("b", 9.0, {"audio": laugh}))
    assert p_laugh["Comedy"] > p_war["Comedy"]
    assert p_war["Action"] > p_laugh["Action"] and p_war["War"] > p_laugh["War"]
    # on-screen text and a transcript together; short texts count less than long ones
    rich = FeatureSet("c", 9.0, {"ocr": _text(store, "ocr", ["THE LAST CATTLE DRIVE"]),
                                 "asr": _text(store, "asr", ["Round up the herd, partner, we ride "
                                                             "for Abilene before the rustlers come."])})
    d = head.describe(rich)
    assert set(d.texts) == {"ocr", "asr"}
    assert head.predict(rich)["Western"] > 0.2
    many = head.predict_many([rich, FeatureSet("e", 1.0)])
    assert many[0] == head.predict(rich) and len(many) == 2


def test_active_head_falls_back_to_zero_shot(tmp_path, store) -> None:
    from trailertagger.core.paths import app_dirs

    dirs = app_dirs()
    assert isinstance(runtime.active_head(dirs, store), ZeroShotHead)
    broken = dirs.heads / "broken"
    broken.mkdir(parents=True)
    (broken / "card.json").write_text("{not json", encoding="utf-8")
    (dirs.heads / runtime.ACTIVE_FILE).write_text('{"head": "broken"}', encoding="utf-8")
    assert isinstance(runtime.active_head(dirs, store), ZeroShotHead)
    rows = runtime.list_heads(dirs)
    assert rows[0].model_id == "zero-shot" and any(r.error for r in rows[1:])


def test_clip_prompt_path_with_a_stand_in_open_clip(head, store, monkeypatch, tmp_path) -> None:
    """open-clip-torch and CLIP weights are not installed here, so the CLIP branch is driven
    by a stand-in ``open_clip`` whose text tower maps each prompt to a fixed vector: it checks
    the plumbing (the CLIP extractor's text tower, prompts per genre, prototypes, scoring of
    CLIP frame embeddings), not CLIP."""
    import sys
    import types

    import torch
    from torch import nn

    from trailertagger.core.classify import zero_shot as zs

    western = torch.zeros(512)
    western[0] = 1.0

    class TextTower(nn.Module):  # no weights of its own: loads the empty state dict strictly
        def encode_text(self, tokens):
            out = torch.randn(len(tokens), 512, generator=torch.Generator().manual_seed(0)) * 0.1
            for i, t in enumerate(tokens):
                if "cowboy" in t or "western" in t:
                    out[i] += western * 3
            return out

    class Tokens(list):  # the prompts themselves, movable like a token tensor
        def to(self, device):
            return self

    fake = types.ModuleType("open_clip")
    fake.create_model = lambda arch, pretrained=None: TextTower()
    fake.get_tokenizer = lambda arch: Tokens
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    weights = tmp_path / "clip.bin"
    torch.save({}, weights)

    class Store:
        def resolve(self, model_id):
            assert model_id == zs.CLIP_MODEL_ID
            return types.SimpleNamespace(path=weights, model_id=model_id, sha256="", source="stand-in")

    clip_head = ZeroShotHead(store)
    clip_head._ensure_loaded()
    clip_head.store = Store()
    frames = np.tile(western.numpy(), (5, 1)) + 0.01
    fs = FeatureSet("c", 5.0, {"clip": ModalityFeatures("clip", frames, np.arange(5), "image.clip_vit_b32",
                                                       "1", zs.CLIP_MODEL_ID, "")})
    p = clip_head.predict(fs)
    assert max(p, key=lambda g: p[g] / MOVIENET_PREVALENCE[g]) == "Western"
    assert clip_head.scores(fs)[1].texts == {"clip": "5 CLIP frames"}
    # without CLIP available the same features are simply not evidence (and it is logged)
    head._clip = None
    monkeypatch.setitem(sys.modules, "open_clip", None)
    assert head.predict(fs)["Western"] == pytest.approx(MOVIENET_PREVALENCE["Western"])
