"""The seed profile's extractors: their pre/post-processing, on small random-weight models.

The seed authors' recipe for each (their ``preprocessing/src/feature_extractors.py``):
CLIP ``encode_image`` of torchvision-preprocessed frames (unnormalised); face emotion: the
CLS row of ``hidden_states[-1]`` (before ViT's final LayerNorm) of each face, the two
largest faces averaged; sentiment: the CLS row of ``hidden_states[-1]`` of RoBERTa on the
text (truncated to 512 tokens); OCR: lines above 0.75 confidence, lower-cased, one text per
frame, unique texts in order.  The transformers models here are built from small configs
with seeded random weights; what is checked is that our code feeds and reads them the way
the authors' code did.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trailertagger.cli.main import main
from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors.base import extractor_class, is_optional, profile_extractors
from trailertagger.core.extractors.seed import (
    CLIP_MEAN,
    CLIP_STD,
    SeedClipExtractor,
    SeedFaceEmotionExtractor,
    SentimentEncoder,
    _text_row,
    clip_preprocess,
    ocr_frame_text,
    two_largest_mean,
    unique_texts,
)
from trailertagger.core.features.seed_format import SEED_TO_MODALITY
from trailertagger.core.models.store import ModelStore

tf = pytest.importorskip("transformers")


def test_seed_profile_writes_the_seed_modalities():
    mods = {extractor_class(n).modality for n in profile_extractors("seed")}
    assert mods == set(SEED_TO_MODALITY.values())
    assert is_optional("seed.ocr_sentiment")


def test_models_list_profile_seed_names_model_source_size_licence(capsys):
    assert main(["models", "list", "--profile", "seed"]) == 0
    out = capsys.readouterr().out
    for model_id in ("clip-vit-b32-openai", "beats-iter3-plus-as2m-cpt2", "vit-face-expression",
                     "yunet-face", "twitter-roberta-sentiment", "whisper-large-v3"):
        assert model_id in out
    assert out.count("licence:") == out.count("source:") >= 6
    assert "~3.1 GB" in out and "huggingface.co/openai/clip-vit-base-patch32" in out


@pytest.mark.parametrize("name", ["seed.clip", "seed.beats", "seed.face_emotion",
                                  "seed.asr_sentiment", "seed.ocr_sentiment"])
def test_without_weights_each_seed_extractor_says_what_to_fetch(tmp_path, name):
    store = ModelStore(override_dir=tmp_path / "none", cache_dir=tmp_path / "cache", allow_download=False)
    cls = extractor_class(name)
    with pytest.raises(ModelMissingError) as err:
        cls().load(store, "cpu")
    text = str(err.value)
    if name == "seed.ocr_sentiment" and "symspellpy" in text:
        assert "recorded as missing" in text
    else:
        assert any(m in text for m in cls.model_ids), text
        assert "models fetch" in text or "put" in text or "folder" in text or "allow" in text


def test_clip_preprocess_follows_torchvision_rules():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(300, 500, 3), dtype=np.uint8)
    x = clip_preprocess([img])
    assert x.shape == (1, 3, 224, 224)
    # the same steps written out: shorter side 224 (longer int(224*500/300) = 373), bicubic
    # antialiased resize, centre crop at round((373-224)/2) = 74, CLIP mean/std
    t = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
    r = torch.nn.functional.interpolate(t, size=(224, 373), mode="bicubic", align_corners=False, antialias=True)
    ref = (r[0, :, :, 74:298] - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    torch.testing.assert_close(x[0], ref)
    flat = clip_preprocess([np.full((224, 224, 3), 128, np.uint8)])[0]
    torch.testing.assert_close(flat[:, 0, 0], (128 / 255 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD))


@pytest.mark.random_weights
def test_random_weights_clip_rows_are_unnormalised_image_embeds():
    torch.manual_seed(0)
    cfg = tf.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=224, patch_size=32, projection_dim=16)
    model = tf.CLIPVisionModelWithProjection(cfg).eval()
    ex = SeedClipExtractor(batch_size=2)
    ex.set_model(model, "test", "0" * 64)
    frames = [np.random.default_rng(i).integers(0, 256, (180, 320, 3), dtype=np.uint8) for i in range(3)]
    rows = ex.embed(frames)
    with torch.no_grad():
        ref = model(pixel_values=clip_preprocess(frames)).image_embeds.numpy()
    np.testing.assert_allclose(rows, ref, atol=1e-5)
    assert not np.allclose(np.linalg.norm(rows, axis=1), 1.0)


def test_two_largest_faces_are_averaged():
    feats = [np.full(4, v, np.float32) for v in (1.0, 2.0, 3.0)]
    np.testing.assert_array_equal(two_largest_mean(feats, [50.0, 10.0, 90.0]), np.full(4, 2.0))
    np.testing.assert_array_equal(two_largest_mean(feats[:1], [5.0]), feats[0])


@pytest.mark.random_weights
def test_random_weights_face_rows_are_pre_layernorm_cls(monkeypatch):
    from trailertagger.core.media.types import SceneFrame  # noqa: F401 - layout check below

    torch.manual_seed(1)
    cfg = tf.ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=64, patch_size=16, num_labels=7)
    model = tf.ViTForImageClassification(cfg).eval()
    proc = tf.ViTImageProcessor(size={"height": 64, "width": 64})
    ex = SeedFaceEmotionExtractor()
    ex.set_model(model, proc, "test", "0" * 64)
    rng = np.random.default_rng(2)
    crops = [rng.integers(0, 256, (40 + 10 * i, 30 + 5 * i, 3), dtype=np.uint8) for i in range(3)]
    feats = ex.face_features(crops)
    from PIL import Image

    px = proc([Image.fromarray(c) for c in crops], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(px, output_hidden_states=True)
    np.testing.assert_allclose(feats, out.hidden_states[-1][:, 0].numpy(), atol=1e-5)
    assert not np.allclose(feats, model.vit(px).last_hidden_state[:, 0].detach().numpy(), atol=1e-3)

    class Frame:
        def __init__(self, t, image):
            self.time, self.image = t, image

    class Media:
        frames = [Frame(0.5, np.zeros((8, 8, 3), np.uint8)), Frame(2.0, np.ones((8, 8, 3), np.uint8))]

    found = {0.5: [], 2.0: [(crops[0], 10.0), (crops[1], 30.0), (crops[2], 20.0)]}
    monkeypatch.setattr(ex, "faces", lambda image: found[0.5 if image.max() == 0 else 2.0])
    m = ex.extract(Media())
    assert m.length == 1 and float(m.times[0]) == 2.0
    np.testing.assert_allclose(m.values[0], (feats[1] + feats[2]) / 2, atol=1e-6)


def _tiny_roberta():
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<s>", "<pad>", "</s>", "<unk>", "the", "night", "is", "dark", "and", "full", "of", "terrors", "."]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                      pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(3)
    cfg = tf.RobertaConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=600,
                           num_labels=3, pad_token_id=1)
    return tf.RobertaForSequenceClassification(cfg).eval(), fast


@pytest.mark.random_weights
def test_random_weights_sentiment_row_is_last_layer_cls():
    model, tok = _tiny_roberta()
    enc = SentimentEncoder(model, tok)
    text = "the night is dark . and full of terrors"
    row = enc.embed(text)
    x = tok(text, return_tensors="pt", truncation=True, max_length=512)
    with torch.no_grad():
        ref = model(**x, output_hidden_states=True).hidden_states[-1][0, 0].numpy()
    np.testing.assert_allclose(row, ref, atol=1e-6)
    long = " ".join(["night"] * 2000)
    assert enc.embed(long).shape == (32,)  # truncated to 512 tokens, not an error
    empty = _text_row("seed_asr_sentiment", "seed.asr_sentiment", "1", "m", "s", enc, "   ")
    assert empty.length == 0 and empty.dim == 768
    one = _text_row("seed_asr_sentiment", "seed.asr_sentiment", "1", "m", "s", enc, text)
    assert one.length == 1 and one.texts == [text]


def test_ocr_text_recipe():
    assert ocr_frame_text([("THE END", 0.9), ("noise", 0.5), ("Soon", 0.76)]) == "the end soon"
    assert ocr_frame_text([("x", 0.75)]) == ""
    assert unique_texts(["a", "", "b", "a", "", "c"]) == ["a", "b", "c"]


def test_extract_profile_seed_without_weights_exits_4_naming_the_model(trailer_clip, capsys):
    assert main(["extract", "--profile", "seed", str(trailer_clip)]) == 4
    err = capsys.readouterr().err
    assert "clip-vit-b32-openai" in err or "beats-iter3-plus-as2m-cpt2" in err
