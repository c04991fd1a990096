"""Identity and change detection: content hashes, moves, edits, deletions, purges.

Files are real files on disk (bytes only: identity never decodes), the library a real SQLite
file; ``PRAGMA integrity_check`` runs after every step.  ``_scan`` is a minimal scanner made
of the same library calls the job queue's scanner uses (it only adds queueing on top).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import Library, open_library
from trailertagger.core.library.identity import (
    Change,
    HashOutcome,
    classify_change,
    identify,
    mark_missing,
    move_path,
    move_tree,
    new_video,
    normalize_path,
    purge_missing,
    rows_under,
    video_by_path,
)
from trailertagger.core.library.queries import find_videos, get_video
from trailertagger.core.library.schema import GenreAssignment, Video
from trailertagger.core.media.files import is_video_file


@dataclass
class Scan:
    new: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    unchanged: int = 0

    @property
    def to_process(self) -> list[int]:
        return self.new + self.changed + self.returned


def scan_folder(lib: Library, folder: Path, recursive: bool = True) -> Scan:
    root = normalize_path(folder)
    files = sorted(str(p) for p in Path(root).glob("**/*" if recursive else "*")
                   if p.is_file() and is_video_file(p))
    out = Scan()
    with lib.session() as s:
        for path in files:
            st = os.stat(path)
            row = video_by_path(s, path)
            change = classify_change(row, st.st_size, st.st_mtime_ns)
            if change is Change.NEW:
                out.new.append(new_video(s, path, st.st_size, st.st_mtime_ns).id)
            elif change is Change.UNCHANGED:
                out.unchanged += 1
            else:
                (out.changed if change is Change.CHANGED else out.returned).append(row.id)
        gone = [v for v in rows_under(s, root) if v.path not in files and v.status != "missing"
                and (recursive or os.path.dirname(v.path) == root)]
        mark_missing(s, gone)
        out.missing = [v.id for v in gone]
    return out


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def lib(tmp_path: Path):
    with open_library(tmp_path / "lib.sqlite3") as lib:
        yield lib
        assert lib.integrity_check() == []


@pytest.fixture()
def films(tmp_path: Path) -> Path:
    root = tmp_path / "Films ü"
    _write(root / "a.mp4", os.urandom(5000))
    _write(root / "b.mkv", os.urandom(6000))
    _write(root / "sub" / "c.webm", os.urandom(7000))
    _write(root / "notes.txt", b"not a video")
    _write(root / ".hidden.mp4", os.urandom(10))
    _write(root / "partial.mp4.part", os.urandom(10))
    return root


def _classify_all(lib: Library, model: str = "m1", probs: dict | None = None) -> None:
    """Stand-in for the classify stage: the same library calls, fixed probabilities."""
    with lib.session() as s:
        head, _ = note_active_head(s, model, "1", "onnx")
        for v in s.query(Video).filter(Video.status != "missing"):
            store_predictions(s, v, head, probs or {"Horror": 0.9, "Comedy": 0.8, "Drama": 0.2})


def _process(lib: Library, ids: list[int]) -> list[HashOutcome]:
    out = identify(lib, ids)
    assert all(isinstance(o, HashOutcome) for o in out), out
    return out  # type: ignore[return-value]


def test_video_names() -> None:
    assert is_video_file("/x/Film.MKV")
    assert not is_video_file("/x/.Film.mkv")
    assert not is_video_file("/x/Film.mkv.part")
    assert not is_video_file("/x/poster.jpg")


def test_first_scan_then_rescan_is_a_no_op(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    assert len(res.new) == 3 and res.to_process == res.new
    assert len(_process(lib, res.new)) == 3
    assert lib.integrity_check() == []
    again = scan_folder(lib, films)
    assert again.to_process == [] and again.unchanged == 3 and again.missing == []
    with lib.read() as s:
        assert {Path(r.path).name for r in find_videos(s)} == {"a.mp4", "b.mkv", "c.webm"}
        assert all(r.content_hash and r.content_hash.startswith("tt1:") for r in find_videos(s))
    flat = scan_folder(lib, films, recursive=False)
    assert flat.missing == [] and flat.unchanged == 2  # sub/ not looked at, not marked missing


def test_moved_and_renamed_file_keeps_tags_by_content_hash(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    _classify_all(lib)
    with lib.read() as s:
        a = get_video(s, str(films / "a.mp4"))
    apply_changes(lib, [a.id], parse_changes(["-Comedy", "+War"]))
    # rename and move into another sub-folder
    (films / "elsewhere").mkdir()
    os.rename(films / "a.mp4", films / "elsewhere" / "A renamed.mp4")
    res = scan_folder(lib, films)
    assert res.missing == [a.id] and len(res.new) == 1
    assert lib.integrity_check() == []
    (outcome,) = _process(lib, res.new)
    assert outcome.video_id == a.id and outcome.moved_from == str(films / "a.mp4")
    assert not outcome.needs_processing  # same content: no re-extraction, no re-classification
    with lib.read() as s:
        rec = get_video(s, a.id)
        assert rec.path == str(films / "elsewhere" / "A renamed.mp4")
        assert rec.status == "ready" and rec.missing_since is None
        assert rec.genres == ("Horror", "War") and rec.manual_off == ("Comedy",)
        assert s.get(Video, res.new[0]) is None  # the provisional row is gone
        assert len(find_videos(s)) == 3
    assert scan_folder(lib, films).to_process == []


def test_move_to_a_folder_scanned_first_is_still_a_move(lib: Library, films: Path, tmp_path: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    _classify_all(lib)
    b_id = next(i for i in res.new if _path(lib, i).endswith("b.mkv"))
    apply_changes(lib, [b_id], parse_changes(["+Western"]))
    other = tmp_path / "Other"
    other.mkdir()
    shutil.move(films / "b.mkv", other / "b.mkv")
    res2 = scan_folder(lib, other)  # the old folder was not rescanned: b's row is not missing yet
    (outcome,) = _process(lib, res2.new)
    assert outcome.video_id == b_id and outcome.copied_from is None
    with lib.read() as s:
        assert get_video(s, b_id).path == str(other / "b.mkv")
        assert "Western" in get_video(s, b_id).genres


def test_copy_inherits_corrections_and_keeps_the_original(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    _classify_all(lib)
    a_id = next(i for i in res.new if _path(lib, i).endswith("a.mp4"))
    apply_changes(lib, [a_id], parse_changes(["-Horror"]))
    shutil.copy2(films / "a.mp4", films / "a copy.mp4")
    res2 = scan_folder(lib, films)
    (outcome,) = _process(lib, res2.new)
    assert outcome.copied_from == str(films / "a.mp4") and outcome.video_id != a_id
    assert outcome.needs_processing  # a new row: it gets its own auto rows
    with lib.read() as s:
        copy = get_video(s, outcome.video_id)
        assert copy.manual_off == ("Horror",)
        assert get_video(s, a_id).path == str(films / "a.mp4")


def test_edited_file_is_detected_touched_file_is_not_reprocessed(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    _classify_all(lib)
    a = films / "a.mp4"
    a_id = next(i for i in res.new if _path(lib, i) == str(a))
    apply_changes(lib, [a_id], parse_changes(["+War"]))
    # touch: new mtime, same bytes -> hashed again, nothing stale
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    res = scan_folder(lib, films)
    assert res.changed == [a_id]
    (outcome,) = _process(lib, [a_id])
    assert not outcome.content_changed and not outcome.needs_processing
    assert scan_folder(lib, films).to_process == []  # the new signature was stored
    # a real edit: same size, other bytes, other mtime
    data = bytearray(a.read_bytes())
    data[100] ^= 0xFF
    a.write_bytes(bytes(data))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    res = scan_folder(lib, films)
    assert res.changed == [a_id]
    with lib.read() as s:  # until hashed, the old tags are still shown
        assert get_video(s, a_id).genres == ("Comedy", "Horror", "War")
    (outcome,) = _process(lib, [a_id])
    assert outcome.content_changed and outcome.needs_processing
    with lib.read() as s:
        rec = get_video(s, a_id)
        assert rec.stale and rec.states["Horror"].stale
        assert rec.states["War"].source == "manual" and "War" in rec.genres
    assert lib.integrity_check() == []


def test_deleted_file_is_missing_until_purged_and_returns_with_tags(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    _classify_all(lib)
    c = films / "sub" / "c.webm"
    c_id = next(i for i in res.new if _path(lib, i) == str(c))
    apply_changes(lib, [c_id], parse_changes(["+Sport"]))
    data = c.read_bytes()
    c.unlink()
    res = scan_folder(lib, films)
    assert res.missing == [c_id]
    with lib.read() as s:
        rec = get_video(s, c_id)
        assert rec.status == "missing" and rec.missing_since is not None
        assert "Sport" in rec.genres  # tags kept
        assert [r.id for r in find_videos(s, missing=True)] == [c_id]
        assert c_id not in [r.id for r in find_videos(s, missing=False)]
    assert scan_folder(lib, films).missing == []  # already missing: not counted again
    # it comes back at the same path
    c.write_bytes(data)
    res = scan_folder(lib, films)
    assert res.returned == [c_id]
    _process(lib, [c_id])
    with lib.read() as s:
        rec = get_video(s, c_id)
        assert rec.status == "ready" and "Sport" in rec.genres
    # gone again, then purged: only missing rows go, with their genre rows
    c.unlink()
    scan_folder(lib, films)
    assert purge_missing(lib, [res.returned[0], *[i for i in range(1, 4) if i != c_id]]) == 1
    with lib.read() as s:
        assert s.get(Video, c_id) is None
        assert s.query(GenreAssignment).filter(GenreAssignment.video_id == c_id).count() == 0
        assert len(find_videos(s)) == 2
    assert purge_missing(lib) == 0


def test_vanished_before_hashing_is_marked_missing(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    (films / "b.mkv").unlink()
    out = identify(lib, res.new)
    reasons = [o for o in out if isinstance(o, tuple)]
    assert len(reasons) == 1 and reasons[0][1] == "file not found"
    with lib.read() as s:
        assert s.get(Video, reasons[0][0]).status == "missing"


def test_watcher_renames_move_rows(lib: Library, films: Path) -> None:
    res = scan_folder(lib, films)
    _process(lib, res.new)
    with lib.session() as s:
        moved = move_path(s, str(films / "a.mp4"), str(films / "z.mp4"))
        assert moved is not None
        assert move_tree(s, str(films / "sub"), str(films / "sub2")) == 1
    with lib.read() as s:
        assert {Path(r.path).relative_to(films).as_posix() for r in find_videos(s)} == {
            "z.mp4", "b.mkv", "sub2/c.webm"}
        assert [r.path for r in find_videos(s, text="Z.MP4")] == [str(films / "z.mp4")]


def _path(lib: Library, vid: int) -> str:
    with lib.read() as s:
        return s.get(Video, vid).path


def test_correction_survives_rescan_rerun_rename_and_model_change_real_clips(
        lib: Library, real_clips, tmp_path: Path) -> None:
    """The acceptance story on real clips, ``integrity_check`` after every step."""
    folder = tmp_path / "Trailers"
    folder.mkdir()
    shutil.copy2(real_clips["bbb"], folder / "Big Buck Bunny.mp4")
    shutil.copy2(real_clips["music"], folder / "music video.mp4")
    bunny = str(folder / "Big Buck Bunny.mp4")

    def check(step: str) -> None:
        assert lib.integrity_check() == [], step
        with lib.read() as s:
            rec = next(r for r in find_videos(s) if r.content_hash == bunny_hash)
            assert "Animation" in rec.genres and "Horror" not in rec.genres, step
            assert rec.manual_on == ("Animation",) and rec.manual_off == ("Horror",), step

    res = scan_folder(lib, folder)
    _process(lib, res.new)
    _classify_all(lib, "m1", {"Horror": 0.99, "Comedy": 0.7})
    with lib.read() as s:
        bunny_row = get_video(s, bunny)
    bunny_hash = bunny_row.content_hash
    apply_changes(lib, [bunny_row.id], parse_changes(["+Animation", "-Horror"]))
    check("corrected")
    assert scan_folder(lib, folder).to_process == []
    check("rescan")
    _classify_all(lib, "m1", {"Horror": 1.0})
    check("re-run")
    os.rename(bunny, folder / "BBB (2008).mp4")
    res = scan_folder(lib, folder)
    (outcome,) = _process(lib, res.new)
    assert outcome.video_id == bunny_row.id and outcome.moved_from == bunny
    check("rename")
    _classify_all(lib, "m2", {"Horror": 1.0, "Animation": 0.0})
    check("model change")
