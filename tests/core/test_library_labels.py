"""Labels the library already has: NFO files (Kodi, Jellyfin), genre folders, a CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailertagger.cli.main import main
from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import open_library
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.labels import alias_table, map_names, read_nfo_genres
from trailertagger.core.library.queries import find_videos, get_video
from trailertagger.core.library.review import review_queue
from trailertagger.core.library.schema import Video
from trailertagger.core.paths import app_dirs

KODI = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<movie>
    <title>Alien</title>
    <genre>Horror</genre>
    <genre>Science Fiction</genre>
    <uniqueid type="tmdb">348</uniqueid>
</movie>
https://www.themoviedb.org/movie/348
"""
JELLYFIN = """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<movie>
  <plot><![CDATA[A rabbit.]]></plot>
  <genre>Animation / Family</genre>
  <genre>Sci-Fi &amp; Fantasy</genre>
  <genre>Cyberpunk</genre>
</movie>
"""
LOCALIZED = "<movie><genre>Komödie</genre><genre>Drame</genre></movie>"
MALFORMED = "<movie><genre>Horror</genre>"
EVIL = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><movie><genre>&lol;</genre></movie>"""


@pytest.fixture()
def films(tmp_path: Path) -> Path:
    root = tmp_path / "Films"
    layout = {
        "Alien (1979)/Alien (1979).mkv": ("Alien (1979).nfo", KODI),
        "Bunny/bunny.mp4": ("movie.nfo", JELLYFIN),  # alone in its folder: movie.nfo is its own
        "Komödie/Die Feuerzangenbowle.mp4": ("Die Feuerzangenbowle.nfo", LOCALIZED),
        "broken/broken.mp4": ("broken.nfo", MALFORMED),
        "evil/evil.mp4": ("evil.nfo", EVIL),
        "Horror/Science Fiction/The Thing.mp4": None,
        "misc/plain.mp4": None,
    }
    with open_library(app_dirs().library_db) as lib, lib.session() as s:
        head, _ = note_active_head(s, "zero-shot", "2-test", "zero-shot")
        for rel, nfo in layout.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")
            if nfo:
                (p.parent / nfo[0]).write_text(nfo[1], encoding="utf-8")
            v = new_video(s, str(p), 1, 1)
            store_predictions(s, v, head, {g: 0.9 if g == "Comedy" else 0.01 for g in GENRES},
                              on=["Comedy"], evidence_state="cold start",
                              explanations={"Comedy": "said: 'honk honk' (+1.2)"},
                              suggestions=["Comedy", "Family"])
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _genres(root: Path) -> dict[str, tuple[str, ...]]:
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        return {str(Path(r.path).relative_to(root)): r.genres for r in find_videos(s)}


def test_alias_table_maps_tmdb_kodi_and_localized_names() -> None:
    t = alias_table({"Zombie": "horror", "Space Opera": ["Sci-Fi", "Adventure"]})
    assert map_names(["Science Fiction", "Animated", "War & Politics"], t) == (
        ["Animation", "Sci-Fi", "War"], [])
    assert map_names(["Sci-Fi & Fantasy", "Action & Adventure"], t)[0] == [
        "Action", "Adventure", "Fantasy", "Sci-Fi"]
    assert map_names(["Komödie", "Comédie", "Comedia", "Commedia"], t)[0] == ["Comedy"]
    assert map_names(["Zombie / Space Opera", "TV Movie", "Cyberpunk"], t) == (
        ["Adventure", "Horror", "Sci-Fi"], ["Cyberpunk"])
    with pytest.raises(Exception, match="not one of the 21"):
        alias_table({"x": "Spaghetti"})


def test_nfo_parsing_refuses_entities(tmp_path: Path) -> None:
    p = tmp_path / "a.nfo"
    p.write_text(EVIL, encoding="utf-8")
    with pytest.raises(ValueError, match="DOCTYPE or ENTITY"):
        read_nfo_genres(p)
    p.write_text(KODI, encoding="utf-8")  # a URL line after the XML is Kodi's habit
    assert read_nfo_genres(p) == ["Horror", "Science Fiction"]


def test_import_nfo_folders_csv_then_rerun_and_correction(films: Path, capsys, tmp_path) -> None:
    code, out, err = run(capsys, "labels", "import", "--nfo")
    assert code == 1  # unknown names and unreadable files are items that failed
    got = _genres(films)
    assert got["Alien (1979)/Alien (1979).mkv"] == ("Horror", "Sci-Fi")
    assert got["Bunny/bunny.mp4"] == ("Animation", "Family", "Fantasy", "Sci-Fi")
    assert got["Komödie/Die Feuerzangenbowle.mp4"] == ("Comedy", "Drama")
    assert got["broken/broken.mp4"] == ("Comedy",)  # untouched: still the head's
    assert "unknown genre 'Cyberpunk' in" in err and "movie.nfo" in err
    assert "broken.nfo: not valid XML" in err and "evil.nfo: declares a DOCTYPE" in err

    code, out, err = run(capsys, "labels", "import", "--folders")
    got = _genres(films)
    assert got["Horror/Science Fiction/The Thing.mp4"] == ("Horror", "Sci-Fi")
    # the folder "Komödie" is an alias too: the latest import of a video decides
    assert got["Komödie/Die Feuerzangenbowle.mp4"] == ("Comedy",)
    assert got["misc/plain.mp4"] == ("Comedy",) and code == 0

    table = tmp_path / "labels.csv"
    table.write_text("path,genres\nFilms/misc/plain.mp4,Western|Drama\nFilms/nope.mp4,Horror\n"
                     "Films/evil/evil.mp4,Polka\n", encoding="utf-8")
    code, out, err = run(capsys, "labels", "import", "--csv", str(table))
    assert code == 1 and "labels.csv:3: Films/nope.mp4" in err and "'Polka'" in err
    assert _genres(films)["misc/plain.mp4"] == ("Drama", "Western")

    # classification (what rerun --all writes) never changes imported labels
    with open_library(app_dirs().library_db) as lib:
        with lib.session() as s:
            head, _ = note_active_head(s, "m2", "v2", "onnx")
            for v in s.query(Video).all():
                store_predictions(s, v, head, {g: 0.99 for g in GENRES})
        before = _genres(films)
        assert before["misc/plain.mp4"] == ("Drama", "Western")
        assert before["broken/broken.mp4"] == GENRES  # not labelled: the new head speaks
        # a manual correction overrides a metadata label
        with lib.read() as s:
            vid = get_video(s, str(films / "misc/plain.mp4")).id
        apply_changes(lib, [vid], parse_changes(["-Western", "+Horror"]))
        with lib.read() as s:
            rec = get_video(s, vid)
            assert rec.genres == ("Drama", "Horror") and rec.label_state == "labelled"
            assert rec.metadata_genres == ("Drama", "Western")
    code, out, _ = run(capsys, "tags", "--json", "--state", "labelled")
    rows = json.loads(out)
    assert {r["label_state"] for r in rows} == {"labelled"} and len(rows) == 5


def test_cold_start_marks_explain_skip_and_review(films: Path, capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "tags", "--explain")
    assert "(cold start)" in out and "Comedy 90%: said: 'honk honk' (+1.2)" in out
    assert "suggestions (not confident enough): Family" in out
    out_csv = tmp_path / "x.json"
    run(capsys, "labels", "import", "--folders")  # two videos get labels
    assert run(capsys, "export", "--format", "json", "--skip-cold-start", "--out", str(out_csv))[0] == 0
    rows = json.loads(out_csv.read_text(encoding="utf-8"))
    assert sorted(Path(r["path"]).name for r in rows) == ["Die Feuerzangenbowle.mp4", "The Thing.mp4"]
    assert all(r["label_state"] == "labelled" for r in rows)
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        items = review_queue(s, limit=None)
    names = [Path(i.path).name for i in items]
    # a folder says Horror + Sci-Fi, the head said Comedy: one look settles it, first in line
    assert names[0] == "The Thing.mp4" and "disagrees" in items[0].reason
    assert "Die Feuerzangenbowle.mp4" not in names  # the head agrees with its label
    plain = next(i for i in items if i.path.endswith("plain.mp4"))
    assert "cold-start head" in plain.reason and "unsure about Comedy" in plain.reason
    code, out, _ = run(capsys, "review", "--limit", "3")
    assert code == 0 and len(out.strip().splitlines()) == 3
