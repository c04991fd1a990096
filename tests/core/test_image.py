"""Image extractors: EfficientNet-Lite0 on real pictures with its shipped weights, and the
OpenCLIP ViT-B/32 extractor's loading and preprocessing (open_clip itself is not installable
here, so its model code is replaced by a stand-in module; preprocessing is checked exactly)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors import image_clip
from trailertagger.core.extractors.base import PROFILES, extractor_class
from trailertagger.core.extractors.image import EfficientNetLite0Extractor, imagenet_classes
from trailertagger.core.extractors.image_clip import (
    CLIP_MEAN,
    CLIP_STD,
    OpenClipExtractor,
    preprocess,
)
from trailertagger.core.media import decode_media
from trailertagger.core.models.store import ModelStore


@pytest.fixture(scope="module")
def effnet():
    ext = EfficientNetLite0Extractor()
    ext.load(ModelStore(allow_download=False))
    return ext


def test_effnet_recognises_real_photos(effnet):
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images  # a temple photo and a daisy close-up
    emb, probs = effnet.embed_images([china, flower])
    names = imagenet_classes()
    top = [[names[i] for i in np.argsort(p)[::-1][:3]] for p in probs]
    assert top[1][0] == "daisy"
    assert {"palace", "monastery", "bell cote", "castle"} & set(top[0])
    assert emb.shape == (2, 1280) and probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_effnet_on_bbb_gives_one_sane_row_per_scene(effnet, real_clips):
    media = decode_media(real_clips["bbb"])
    feats = effnet.extract(media)
    assert feats.length == len(media.frames) >= 1 and feats.dim == 1280
    assert feats.times.tolist() == pytest.approx([f.time for f in media.frames])
    assert np.isfinite(feats.values).all()
    assert feats.values.min() >= 0.0 and feats.values.max() <= 6.0  # pooled ReLU6
    assert feats.values.std() > 0.05, "a real picture gives a spread-out embedding"
    # the frame is the cartoon rabbit on a meadow: the top class is an animal (ImageNet 0-397)
    assert int(np.argmax(feats.scores[0])) < 398
    assert feats.model_id == "effnet-lite0-imagenet"
    assert feats.weights_sha256 == ModelStore().spec("effnet-lite0-imagenet").files[0].sha256
    assert len(feats.labels) == 1000



def test_folding_batchnorm_keeps_the_outputs():
    """``fold_batchnorm`` (and the SAME padding done inside the convolution) give the same
    embeddings and logits as the unfolded network, on an odd-sized input that needs
    asymmetric padding."""
    import copy

    import torch

    from trailertagger.core.extractors.image import build_effnet_lite0

    torch.manual_seed(0)
    model = build_effnet_lite0(10)
    for m in model.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    folded = copy.deepcopy(model).fold_batchnorm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 225, 199)
    with torch.inference_mode():
        (emb, logits), (emb_f, logits_f) = model(x), folded(x)
    torch.testing.assert_close(emb_f, emb, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits_f, logits, rtol=1e-4, atol=1e-4)

# ----------------------------------------------------------------------------- CLIP


def test_clip_preprocess_matches_openclip_eval_transform():
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    out = preprocess([img])
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    # reference: shorter side to 224 (bicubic), centre crop, /255, mean/std
    ref = Image.fromarray(img).resize((373, 224), Image.Resampling.BICUBIC)
    ref = np.asarray(ref, dtype=np.float32)[:, 74:298] / 255.0
    np.testing.assert_allclose(out[0], ((ref - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1), atol=1e-6)
    # a flat grey picture becomes the per-channel constant (g - mean) / std
    flat = preprocess([np.full((224, 224, 3), 128, np.uint8)])[0]
    np.testing.assert_allclose(flat[:, 0, 0], (128 / 255 - CLIP_MEAN) / CLIP_STD, rtol=1e-6)


def test_clip_without_open_clip_is_a_clear_model_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip -> ImportError
    ext = OpenClipExtractor()
    with pytest.raises(ModelMissingError) as err:
        ext.load(ModelStore(allow_download=False))
    msg = str(err.value)
    assert "open-clip-torch" in msg and "trailertagger[clip]" in msg
    assert "clip-vit-b32" in msg and "models" in msg  # where the weights go


def _fake_open_clip():
    """A stand-in for the open_clip package: ``create_model`` builds a tiny module with
    ``encode_image``/``encode_text`` (no pretrained weights of its own)."""
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, image_clip.EMBED_DIM)
            self.tok = nn.Embedding(100, image_clip.EMBED_DIM)

        def encode_image(self, x):
            return self.proj(x.mean(dim=(2, 3)))

        def encode_text(self, tokens):
            return self.tok(tokens).mean(1)

    mod = types.ModuleType("open_clip")
    mod.create_model = lambda arch, pretrained=None: Tiny()
    mod.get_tokenizer = lambda arch: (lambda texts: torch.tensor([[len(t) % 100, 1] for t in texts]))
    mod.Tiny = Tiny
    return mod


def test_clip_weights_missing_names_the_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", _fake_open_clip())
    with pytest.raises(ModelMissingError) as err:
        OpenClipExtractor().load(ModelStore(allow_download=False))
    assert "open_clip_pytorch_model.bin" in str(err.value)
    assert "clip-vit-b32" in str(err.value)


def test_clip_loads_store_weights_strictly_and_embeds(monkeypatch, tmp_path, real_clips):
    import torch

    fake = _fake_open_clip()
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    folder = tmp_path / "models" / "clip-vit-b32"
    folder.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in fake.Tiny().state_dict().items()}},
               folder / "open_clip_pytorch_model.bin")
    store = ModelStore(override_dir=tmp_path / "models", allow_download=False)
    ext = OpenClipExtractor()
    ext.load(store)
    feats = ext.extract(decode_media(real_clips["cuts"]))
    assert feats.modality == "clip" and feats.length == 6 and feats.dim == 512
    np.testing.assert_allclose(np.linalg.norm(feats.values, axis=1), 1.0, rtol=1e-5)
    assert feats.model_id == "clip-vit-b32" and len(feats.weights_sha256) == 64
    assert ext.embed_texts(["a horror film", "a comedy"]).shape == (2, 512)

    torch.save({"proj.weight": torch.zeros(512, 3)}, folder / "open_clip_pytorch_model.bin")
    with pytest.raises(RuntimeError, match="Missing key"):  # strict: never half-loaded
        OpenClipExtractor().load(ModelStore(override_dir=tmp_path / "models"))


def test_paper_profile_uses_clip():
    assert "image.clip_vit_b32" in PROFILES["paper"]
    assert extractor_class("image.clip_vit_b32") is OpenClipExtractor
