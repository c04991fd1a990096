"""Renames and moves (issue 9, cases 7 and 10).

Before: ``mv a_copy.mp4 x1.mp4; mv sub/a2.mp4 x2.mp4; scan`` (two files with the same
content) gave x1 a2's corrections, and a plain move was reported "1 new, 1 missing, 0
moved".  Now a scan matches a new name to the row that was the same file (device, inode,
size and mtime) before it falls back to the content hash, and says "moved".
"""

from __future__ import annotations

import os
import shutil

from tests.faults.support import assert_sane, corrections, query, write_config
from trailertagger.cli.main import main


def test_duplicate_content_renamed_together_keeps_each_files_corrections(tmp_path, real_clips,
                                                                         capsys):
    folder = tmp_path / "films"
    (folder / "sub").mkdir(parents=True)
    a_copy, a2 = folder / "a_copy.mp4", folder / "sub" / "a2.mp4"
    shutil.copyfile(real_clips["bbb"], a_copy)
    shutil.copyfile(real_clips["bbb"], a2)  # the very same bytes: one content hash
    write_config(workers=0)
    assert main(["scan", str(folder)]) == 0
    assert main(["set", str(a_copy), "+Horror", "-Comedy"]) == 0
    assert main(["set", str(a2), "+Western"]) == 0
    # the names sort against the rows' order, so a match by content hash alone (oldest
    # missing row first) would give x1 the corrections of a_copy
    x1, x2 = folder / "x1.mp4", folder / "x2.mp4"
    os.rename(a_copy, x2)
    os.rename(a2, x1)
    capsys.readouterr()
    assert main(["scan", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "0 new, 0 changed, 0 back, 2 moved, 0 missing" in err, err
    assert corrections() == {(str(x2), "Horror", 0), (str(x2), "Comedy", 1),
                             (str(x1), "Western", 0)}
    assert query("SELECT count(*), count(DISTINCT inode) FROM videos") == [(2, 2)]
    assert_sane()


def test_a_move_between_scans_is_reported_as_moved(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    (folder / "new place").mkdir(parents=True)
    clip = folder / "a.mp4"
    shutil.copyfile(real_clips["bbb"], clip)
    write_config(workers=0)
    assert main(["scan", str(folder)]) == 0
    assert main(["set", str(clip), "+Horror"]) == 0
    moved = folder / "new place" / "renamed.mp4"
    os.rename(clip, moved)
    capsys.readouterr()
    assert main(["scan", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "0 new, 0 changed, 0 back, 1 moved, 0 missing" in err and "0 queued" in err, err
    assert corrections() == {(str(moved), "Horror", 0)}
    assert query("SELECT path, status FROM videos") == [(str(moved), "ready")]
    # a copy is not a move: both rows live, the copy inherits the corrections
    copy = folder / "copy.mp4"
    shutil.copy2(moved, copy)
    assert main(["scan", str(folder)]) == 0
    assert "1 new" in capsys.readouterr().err
    assert corrections() == {(str(moved), "Horror", 0), (str(copy), "Horror", 0)}
    assert_sane()
