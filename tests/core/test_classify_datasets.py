"""Label formats: the seed authors' CSV + splits JSON, and the folder + simple CSV format.

Bad rows must be reported with their row numbers (the file's line numbers, header = 1) and
skipped; nothing in a label file may crash a load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trailertagger.core.classify.datasets import (
    load_seed_dataset,
    load_simple_dataset,
    parse_genre_literal,
    read_seed_labels,
    read_simple_labels,
    read_splits,
)
from trailertagger.core.errors import ConfigError
from trailertagger.core.features.io import save_featureset
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRE_INDEX

SEED_CSV = """imdb_id,youtube_id,genres,title,duration
tt01,yt_a,"['Drama', 'History']",A film,120
tt02,yt_b,[],No genres,90
tt03,yt_c,"['Drama', 'Noir']",Unknown genre,100
tt04,yt_d,"['comedy', 'science fiction']",Lower case,95
tt05,,"['Drama']",No id,80
tt06,yt_e,"['Drama'",Broken literal,70
tt07,yt_a,"['Comedy']",Duplicate id,60
tt08,yt_f,"['Horror']",No features,110
tt09,yt_g,"['Western', 'Action']",Val film,100
tt10,yt_h,"['Thriller']",Test film,100
tt11,yt_i,"",Empty cell,100
"""


def _fs(key: str, t: int = 3) -> FeatureSet:
    rng = np.random.default_rng(abs(hash(key)) % 2**32)
    mod = ModalityFeatures("audio", rng.random((t, 4)), np.arange(t), "audio.test", "1", "m", "sha")
    return FeatureSet(key, 10.0, {"audio": mod}, profile="default")


@pytest.fixture()
def seed_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(SEED_CSV, encoding="utf-8")
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"trn": ["yt_a", "yt_d", "yt_b", "yt_f", "yt_zz"],
                                  "val": ["yt_g"], "tst": ["yt_h", "yt_d"]}), encoding="utf-8")
    feats = tmp_path / "features"
    feats.mkdir()
    for key in ("yt_a", "yt_b", "yt_c", "yt_d", "yt_g", "yt_h"):
        save_featureset(feats / f"{key}.npz", _fs(key))
    return csv_path, splits, feats


def test_parse_genre_literal() -> None:
    assert parse_genre_literal("['Drama', 'History']") == ["Drama", "History"]
    assert parse_genre_literal("'Drama'") == ["Drama"]
    assert parse_genre_literal("[]") == []
    for bad in ("['Drama'", "[1, 2]", "__import__('os')", ""):
        with pytest.raises(ValueError):
            parse_genre_literal(bad)


def test_seed_labels_report_bad_rows_with_row_numbers(seed_files) -> None:
    csv_path, _, _ = seed_files
    items, report = read_seed_labels(csv_path)
    assert [it.key for it in items] == ["yt_a", "yt_d", "yt_f", "yt_g", "yt_h"]
    assert items[0].genres == ("Drama", "History") and items[0].row == 2
    assert items[1].genres == ("Comedy", "Sci-Fi")  # spelling normalised
    assert items[0].labels[GENRE_INDEX["History"]] == 1.0 and items[0].labels.sum() == 2
    problems = {p.row: p.reason for p in report.problems}
    assert "no genres" in problems[3]
    assert "unknown genre" in problems[4] and "'Noir'" in problems[4]
    assert "no youtube_id" in problems[6]
    assert "malformed" in problems[7]
    assert "duplicate" in problems[8] and "row 2" in problems[8]
    assert 12 in problems  # empty cell: malformed/empty, skipped, not a crash
    assert report.rows == 11 and report.kept == 5
    text = report.format()
    assert "row 4: yt_c: unknown genre" in text


def test_seed_unknown_genre_drop_keeps_known(seed_files) -> None:
    items, report = read_seed_labels(seed_files[0], unknown="drop")
    c = next(it for it in items if it.key == "yt_c")
    assert c.genres == ("Drama",)
    assert any(p.row == 4 and "Noir" in p.reason for p in report.problems)


def test_seed_dataset_end_to_end(seed_files) -> None:
    csv_path, splits, feats = seed_files
    ds = load_seed_dataset(csv_path, splits, features_dir=feats)
    assert [it.key for it in ds["trn"].items] == ["yt_a"]  # yt_d is also in tst: tst wins
    assert ds["val"].keys == ["yt_g"] and ds["tst"].keys == ["yt_h", "yt_d"]
    reasons = [str(p) for p in ds.report.problems]
    assert any("row 9: yt_f: no feature file" in r for r in reasons)
    assert any("yt_d" in r and "listed in both tst and trn" in r for r in reasons)
    assert any("yt_zz" in r and "no usable label row" in r for r in reasons)
    assert any("yt_b" in r and "no usable label row" in r for r in reasons)  # it had no genres
    fs, y = ds["val"][0]
    assert isinstance(fs, FeatureSet) and fs.content_hash == "yt_g"
    assert y[GENRE_INDEX["Western"]] == 1 and y[GENRE_INDEX["Action"]] == 1
    assert ds["tst"].labels.shape == (2, 21)


def test_damaged_feature_file_is_reported_not_fatal(seed_files) -> None:
    csv_path, splits, feats = seed_files
    (feats / "yt_a.npz").write_bytes(b"not a zip file")
    ds = load_seed_dataset(csv_path, splits, features_dir=feats)
    assert len(ds["trn"]) == 0
    assert any(p.row == 2 and "unreadable feature file" in p.reason for p in ds.report.problems)


def test_seed_missing_columns_and_bad_splits(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("id,labels\n1,Drama\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="youtube_id"):
        read_seed_labels(bad)
    with pytest.raises(ConfigError):
        read_seed_labels(tmp_path / "absent.csv")
    sp = tmp_path / "s.json"
    sp.write_text('{"train": ["a"], "valid": ["b"], "test": ["c"]}', encoding="utf-8")
    assert read_splits(sp) == {"trn": ["a"], "val": ["b"], "tst": ["c"]}
    sp.write_text('{"holdout": ["a"]}', encoding="utf-8")
    with pytest.raises(ConfigError, match="holdout"):
        read_splits(sp)
    sp.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(ConfigError):
        read_splits(sp)


def test_simple_csv_folder_format(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        (videos / name).write_bytes(b"\0")
    feats = tmp_path / "feats"
    feats.mkdir()
    for stem in ("a", "b", "c"):
        save_featureset(feats / f"{stem}.npz", _fs(stem))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "path,genres,split\n"
        "videos/a.mp4,Horror|Thriller,train\n"
        "videos/b.mkv,comedy,val\n"
        "videos/c.mp4,Noir|Drama,test\n"
        "videos/d.mp4,Drama,test\n"
        "videos/a.mp4,Drama,train\n"
        ",Drama,\n"
        "videos/c.mp4,,test\n", encoding="utf-8")
    ds = load_simple_dataset(csv_path, features_dir=feats)
    assert ds["trn"].keys == ["videos/a.mp4"] and ds["val"].keys == ["videos/b.mkv"]
    assert len(ds["tst"]) == 0
    y = ds["trn"].labels[0]
    assert y[GENRE_INDEX["Horror"]] == 1 and y[GENRE_INDEX["Thriller"]] == 1 and y.sum() == 2
    problems = {p.row: p.reason for p in ds.report.problems}
    assert "unknown genre" in problems[4] and "Noir" in problems[4]
    assert "no feature file or video" in problems[5]
    assert "duplicate path" in problems[6]
    assert "no path" in problems[7]
    assert "duplicate" in problems[8]  # same path as row 4, reported before its empty genres


@pytest.mark.slow
def test_simple_csv_with_real_videos_extracts_features(real_clips, tmp_path: Path) -> None:
    """Format (2) without feature files: the videos go through the real pipeline on access."""
    import shutil

    folder = tmp_path / "my videos"
    folder.mkdir()
    shutil.copy(real_clips["speech"], folder / "talk.mp4")
    shutil.copy(real_clips["music"], folder / "tune.mp4")
    csv_path = folder / "labels.csv"
    csv_path.write_text("path,genres,split\ntalk.mp4,Drama,trn\ntune.mp4,Music|Comedy,val\n"
                        "gone.mp4,Drama,trn\n", encoding="utf-8")
    ds = load_simple_dataset(csv_path, profile="minimal")
    assert any(p.row == 4 and "no feature file or video" in p.reason for p in ds.report.problems)
    fs, y = ds["val"][0]
    assert isinstance(fs, FeatureSet) and fs.profile == "minimal"
    assert fs.modalities["image"].dim == 1280 and fs.modalities["audio"].dim == 521
    assert fs.modalities["audio"].length > 0 and y[GENRE_INDEX["Music"]] == 1
    assert ds["trn"][0][0].modalities["image"].length > 0


def test_coldstart_labels_are_the_scripts_genres() -> None:
    from trailertagger.devtools import coldstart_set as cs

    y = cs.labels_matrix()
    assert y.shape == (len(cs.SCRIPTS), 21) and y.dtype == np.float32
    for row, script in zip(y, cs.SCRIPTS, strict=True):
        assert {g for g, i in GENRE_INDEX.items() if row[i] == 1} == set(script.genres)
        assert row.sum() == len(script.genres)
    assert cs.labels_matrix(()).shape == (0, 21)


def test_label_file_not_in_utf8_is_a_config_error(tmp_path: Path) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_bytes("imdb_id,youtube_id,genres,title,duration\ntt1,yt1,\"['Drama']\",Café,1\n"
                     .encode("latin-1"))
    simple = tmp_path / "simple.csv"
    simple.write_bytes("path,genres\nCafé.mp4,Drama\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_seed_labels(seed)
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_simple_labels(simple)
