"""Export: NFO files edited in place without losing other fields, atomic writes, CSV, JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trailertagger.core.fsutil import atomic_write_bytes
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import Library, open_library
from trailertagger.core.library.export import (
    NFO_MERGE,
    export_nfo,
    nfo_path_for,
    update_nfo_text,
    write_nfo,
)
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.queries import find_videos
from trailertagger.core.library.writers import ExportOptions, get_writer

SCRAPED = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- created by tinyMediaManager -->
<movie>
    <title>Alien &amp; Co</title>
    <rating name="imdb" max="10" default="true"><value>8.5</value></rating>
    <genre>Horror</genre>
    <genre>Science Fiction</genre>
    <plot>In space, no one
can hear you scream.</plot>
    <!-- a comment inside -->
    <thumb aspect="poster">https://example.org/p.jpg</thumb>
    <tag>favourites</tag>
</movie>
https://www.imdb.com/title/tt0078748/
"""


def _genres(text: str) -> list[str]:
    body = text[text.index("<movie"):text.rindex("</movie>") + len("</movie>")]
    return [g.text for g in ET.fromstring(body).findall("genre")]


def test_nfo_edit_keeps_every_other_field() -> None:
    out = update_nfo_text(SCRAPED, ["Horror", "Sci-Fi", "Thriller"])
    assert _genres(out) == ["Horror", "Sci-Fi", "Thriller"]
    # everything but the genre lines is unchanged, in order
    strip = [ln for ln in SCRAPED.splitlines() if "<genre>" not in ln]
    assert [ln for ln in out.splitlines() if "<genre>" not in ln] == strip
    assert out.index("<rating") < out.index("<genre>") < out.index("<plot>")


def test_nfo_merge_keeps_foreign_genres_and_drops_rejected_ones() -> None:
    out = update_nfo_text(SCRAPED, ["Horror", "Thriller"], mode=NFO_MERGE, rejected=["Sci-Fi"])
    assert _genres(out) == ["Horror", "Thriller"]  # "Science Fiction" is Sci-Fi, rejected
    extra = SCRAPED.replace("<genre>Horror</genre>", "<genre>Slasher</genre>")
    out = update_nfo_text(extra, ["Horror", "Sci-Fi"], mode=NFO_MERGE)
    assert _genres(out) == ["Slasher", "Science Fiction", "Horror"]  # no duplicate Sci-Fi


def test_new_and_minimal_nfos() -> None:
    fresh = update_nfo_text(None, ["Drama", "War"])
    assert fresh.startswith("<?xml") and _genres(fresh) == ["Drama", "War"]
    assert _genres(update_nfo_text("<movie><title>x</title></movie>", ["Drama"])) == ["Drama"]
    assert _genres(update_nfo_text("<movie/>", ["Drama"])) == ["Drama"]
    assert update_nfo_text(SCRAPED, ["Horror", "Science Fiction"]) == SCRAPED  # nothing to do
    with pytest.raises(ValueError):
        update_nfo_text("this is not xml at all", ["Drama"])
    with pytest.raises(ValueError):
        update_nfo_text("<movie><title>x</movie>", ["Drama"])


def test_write_nfo_encoding_bom_and_permissions(tmp_path: Path) -> None:
    video = tmp_path / "Amélie.mkv"
    video.write_bytes(b"x")
    nfo = tmp_path / "Amélie.nfo"
    nfo.write_bytes('<?xml version="1.0" encoding="ISO-8859-1"?>\n<movie><title>Amélie</title>'
                    '</movie>\n'.encode("latin-1"))
    nfo.chmod(0o640)
    path, changed = write_nfo(video, ["Comedy", "Romance"])
    assert path == nfo and changed
    raw = nfo.read_bytes()
    assert "Amélie".encode("latin-1") in raw and b"<genre>Romance</genre>" in raw
    assert nfo.stat().st_mode & 0o777 == 0o640
    assert write_nfo(video, ["Comedy", "Romance"]) == (nfo, False)
    nfo.write_bytes(b"\xef\xbb\xbf<movie><title>BOM</title></movie>")
    assert write_nfo(video, ["Drama"])[1]
    assert _genres(nfo.read_text(encoding="utf-8")) == ["Drama"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "movie.nfo"
    target.write_text("old")

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["movie.nfo"]


def test_movie_nfo_rules(tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "film.mp4").write_bytes(b"x")
    assert nfo_path_for(alone / "film.mp4") == alone / "film.nfo"
    assert nfo_path_for(alone / "film.mp4", prefer_movie_nfo=True) == alone / "movie.nfo"
    (alone / "movie.nfo").write_text("<movie/>")
    assert nfo_path_for(alone / "film.mp4") == alone / "movie.nfo"  # Kodi's movie.nfo, reused
    (alone / "other.mkv").write_bytes(b"x")  # now movie.nfo may belong to the other film
    assert nfo_path_for(alone / "film.mp4") == alone / "film.nfo"


@pytest.fixture()
def lib(tmp_path: Path):
    films = tmp_path / "films"
    films.mkdir()
    with open_library(tmp_path / "lib.sqlite3") as lib:
        with lib.session() as s:
            head, _ = note_active_head(s, "m1", "v1", "onnx")
            for name, probs in (("alien.mp4", {"Horror": 0.9, "Sci-Fi": 0.8}),
                                ("up.mkv", {"Animation": 0.95, "Comedy": 0.6}),
                                ("gone.mp4", {"Drama": 0.9})):
                (films / name).write_bytes(b"x")
                store_predictions(s, new_video(s, str(films / name), 1, 1), head, probs)
        apply_changes(lib, [1], parse_changes(["-Sci-Fi", "+Thriller"]))
        (films / "gone.mp4").unlink()
        with lib.session() as s:
            from trailertagger.core.library.identity import mark_missing
            from trailertagger.core.library.schema import Video

            mark_missing(s, [s.get(Video, 3)])
        yield lib


def test_export_nfo_from_the_library(lib: Library, tmp_path: Path) -> None:
    films = tmp_path / "films"
    (films / "alien.nfo").write_text(SCRAPED, encoding="utf-8")
    (films / "up.nfo").write_text("garbage, not xml", encoding="utf-8")
    with lib.read() as s:
        recs = find_videos(s)
    seen: list[float] = []
    rep = export_nfo(recs, progress=lambda stage, done, total: seen.append(done))
    assert len(seen) == 3 and seen == [0, 1, 2]
    assert rep.written == [str(films / "alien.nfo")]
    assert rep.skipped == [(str(films / "gone.mp4"), "file is missing")]
    assert rep.failed[0][0] == str(films / "up.mkv") and "left untouched" in rep.failed[0][1]
    assert (films / "up.nfo").read_text() == "garbage, not xml"
    text = (films / "alien.nfo").read_text(encoding="utf-8")
    assert _genres(text) == ["Horror", "Thriller"]
    assert "<plot>In space, no one\ncan hear you scream.</plot>" in text
    assert text.endswith("https://www.imdb.com/title/tt0078748/\n")
    rep2 = export_nfo(recs)
    assert rep2.written == [] and rep2.unchanged == [str(films / "alien.nfo")]


def export_table(records, fmt: str, dest: Path | None, stream=None, probabilities: bool = True) -> int:  # noqa: ANN001
    """A table export through the writer registry (what the CLI and the app call)."""
    opts = ExportOptions(dest=dest, stream=stream, probabilities=probabilities)
    return get_writer(fmt).write(records, opts).count


def test_export_csv_and_json(lib: Library, tmp_path: Path) -> None:
    with lib.read() as s:
        recs = find_videos(s)
    buf = io.StringIO()
    assert export_table(recs, "csv", None, buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    alien = next(r for r in rows if r["path"].endswith("alien.mp4"))
    assert alien["genres"] == "Horror;Thriller" and alien["removed"] == "Sci-Fi"
    assert alien["added"] == "Thriller" and alien["model_id"] == "m1"
    assert float(alien["p_Sci-Fi"]) == pytest.approx(0.8)
    assert next(r for r in rows if r["path"].endswith("gone.mp4"))["status"] == "missing"
    dest = tmp_path / "out" / "tags.json"
    dest.parent.mkdir()
    assert export_table(recs, "json", dest, probabilities=False) == 3
    data = json.loads(dest.read_text(encoding="utf-8"))
    assert [Path(d["path"]).name for d in data] == ["alien.mp4", "gone.mp4", "up.mkv"]
    assert data[0]["corrections"] == {"added": ["Thriller"], "removed": ["Sci-Fi"]}
    assert data[0]["model"] == {"id": "m1", "version": "v1"} and "probabilities" not in data[0]
    empty = io.StringIO()
    assert export_table([], "json", None, empty) == 0 and json.loads(empty.getvalue()) == []
