"""Adding a modality is one file plus its model manifest.

The extractor below is written the way a newcomer would (a class registered with the public
decorator, a manifest file beside it, its weights in the override folder) and is seen by
every part of the app without touching it: ``models list``, ``scan`` (through the job queue
and its classify stage), the feature cache, training a head on it, and the zero-shot head,
which it explicitly declares it does not feed (``zero_shot = None``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from trailertagger.cli.main import main
from trailertagger.core.extractors import base
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.types import ModalityFeatures
from trailertagger.core.models.specs import unregister_manifest
from trailertagger.core.paths import app_dirs

MODEL_ID = "test-colour-lut"


class ColourExtractor(base.ExtractorBase):
    """Per scene frame: mean R, G, B and luminance, scaled by a 4-number "model" file."""

    name: ClassVar[str] = "test.colour"
    modality: ClassVar[str] = "colour"
    version: ClassVar[str] = "1"
    needs: ClassVar[base.Needs] = base.Needs(frames=True)
    model_ids: ClassVar[tuple[str, ...]] = (MODEL_ID,)
    zero_shot: ClassVar[base.ZeroShotUse | None] = None  # not used by the cold-start head

    @property
    def dim(self) -> int:
        return 4

    def _load(self, store, device: str) -> None:  # noqa: ANN001
        res = store.resolve(MODEL_ID)
        self.scale = np.array(json.loads(res.path.read_text()), np.float32)  # the main file
        self.model_id, self.weights_sha256 = MODEL_ID, res.sha256

    def extract(self, media, cancel=None) -> ModalityFeatures:  # noqa: ANN001
        rows = []
        for frame in media.frames:
            rgb = np.asarray(frame.image, np.float32).reshape(-1, 3).mean(0) / 255.0
            rows.append(np.append(rgb, rgb @ [0.299, 0.587, 0.114]) * self.scale)
        return ModalityFeatures(
            modality=self.modality, values=np.asarray(rows, np.float32).reshape(-1, 4),
            times=np.array([f.time for f in media.frames], np.float32), extractor=self.name,
            extractor_version=self.version, model_id=self.model_id,
            weights_sha256=self.weights_sha256)


@pytest.fixture()
def colour_modality(tmp_path: Path, monkeypatch):
    """The one file (the class above) and its manifest, registered; the weights in the
    override folder, pinned by checksum."""
    weights = tmp_path / "models" / MODEL_ID
    weights.mkdir(parents=True)
    payload = b"[1.0, 1.0, 1.0, 2.0]"
    (weights / "scale.json").write_bytes(payload)
    manifest = tmp_path / f"{MODEL_ID}.toml"
    manifest.write_text(
        f'id = "{MODEL_ID}"\ndescription = "colour scale for the test modality"\n'
        f'used_by = ["test.colour"]\nlicense = "CC0-1.0"\n\n[[files]]\nname = "scale.json"\n'
        f'sha256 = "{hashlib.sha256(payload).hexdigest()}"\nsize = {len(payload)}\n',
        encoding="utf-8")
    monkeypatch.setenv("TRAILERTAGGER_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(ColourExtractor, "manifests", (str(manifest),))
    base.register_extractor(ColourExtractor)
    base.register_profile("test-colour", ["test.colour"])
    yield
    base.unregister_extractor(ColourExtractor.name)
    base.unregister_profile("test-colour")
    unregister_manifest(manifest)


@pytest.mark.slow
def test_a_new_modality_runs_everywhere(colour_modality, real_clips, tmp_path: Path, capsys) -> None:
    # models list: the manifest is found, the weights resolve from the override folder
    assert main(["models", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    row = next(r for r in rows if r["id"] == MODEL_ID)
    assert row["status"] == "ok" and row["source"] == "override"

    # scan: probe -> extract (the new extractor) -> classify (zero-shot head), in-process
    folder = tmp_path / "clips"
    folder.mkdir()
    for key in ("speech", "music", "cuts"):
        (folder / real_clips[key].name).write_bytes(real_clips[key].read_bytes())
    assert main(["scan", str(folder), "--profile", "test-colour", "--workers", "0"]) == 0, \
        capsys.readouterr().err
    assert main(["tags", "--json"]) == 0
    tagged = json.loads(capsys.readouterr().out)
    assert len(tagged) == 3 and all(t["status"] == "ready" for t in tagged)
    # the zero-shot head read nothing from it (declared unused), so it says it knows nothing
    assert all(t["model"]["id"] == "zero-shot" for t in tagged)

    # feature cache: one sequence per scene frame, with its provenance
    cache = FeatureCache(app_dirs().features)
    sets = [cache.load(t["content_hash"]) for t in tagged]
    for fs in sets:
        mod = fs.modalities["colour"]
        assert mod.values.shape[1] == 4 and mod.values.shape[0] >= 1 and mod.model_id == MODEL_ID
        np.testing.assert_allclose(mod.values[:, 3], 2 * (mod.values[:, :3] @ [0.299, 0.587, 0.114]),
                                   rtol=1e-5)
    assert [fs.modalities["colour"].values.shape[0] for fs in sets] != [1, 1, 1]  # cuts clip: several

    # training: a head learns on the new modality alone
    from trailertagger.core.classify.train import TrainConfig, fit
    from trailertagger.core.genres import GENRES

    y = [np.array([g in ("Drama", "Comedy") for g in GENRES], np.float32) for _ in sets]
    y[1] = np.array([g == "Horror" for g in GENRES], np.float32)
    cfg = TrainConfig(model="single", epochs=2, d_model=8, layers=1, heads=2, mlp_hidden=16,
                      batch_size=2, seed=0)
    result = fit(list(zip(sets, y, strict=True)), list(zip(sets[:2], y[:2], strict=True)), cfg)
    assert result.provenance["colour"]["extractor"] == "test.colour"
    probs = result.predict(sets)
    assert probs.shape == (3, len(GENRES)) and np.isfinite(probs).all()


def test_models_check_requires_the_new_models_of_a_profile(colour_modality, capsys) -> None:
    from trailertagger.cli.models import required_models
    from trailertagger.core.models.store import ModelStore

    assert MODEL_ID in required_models(ModelStore.from_config({}), "test-colour")
    assert main(["models", "check", "--profile", "test-colour", MODEL_ID]) == 0
