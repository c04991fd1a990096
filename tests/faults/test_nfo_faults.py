"""NFO export under hostile conditions (issue 9, cases 2 and 8).

Before: a 0444 NFO was still rewritten through the atomic rename; a symlinked NFO became a
regular file and the shared target was not updated; new NFOs were 0600; numeric character
references, CDATA, empty elements, unused namespace declarations, a BOM and CRLF were
rewritten; XXE / billion-laughs files were refused with a misleading "no root element".
Now only the ``<genre>`` elements' bytes change, read-only NFOs are skipped and reported,
symlinks are followed (the target is replaced atomically; ``--nfo-symlinks skip`` leaves
them), new files get 0666 less the umask, and hostile files are refused saying why.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.faults.support import assert_sane, corrections, make_clips, write_config
from trailertagger.cli.main import main
from trailertagger.core.library.export import NfoRefused, update_nfo_text, write_nfo

GENRE = re.compile(rb"[ \t]*(\r?\n)?[ \t]*<genre\b[^>]*?(/>|>.*?</genre>)", re.S)


def outside_genres(data: bytes) -> bytes:
    """The bytes of an NFO with every <genre> element (and the line it sat on) cut out."""
    return GENRE.sub(b"", data)


TRICKY = (
    "\ufeff<?xml version='1.0' encoding='UTF-8'?>\r\n"
    "<!-- scraped -->\r\n"
    '<movie xmlns:unused="urn:x-unused" xmlns:kodi="urn:x-kodi">\r\n'
    "\t<title>Am&#233;lie &amp; &#x2603; caf\u00e9</title>\r\n"
    "\t<plot><![CDATA[A <b>bold</b> plot & more]]></plot>\r\n"
    "\t<tagline></tagline>\r\n"
    "\t<set/>\r\n"
    '\t<rating   name = "imdb"  max="10" />\r\n'
    "\t<genre>Drama</genre>\r\n"
    "\t<genre><![CDATA[Romance]]></genre>\r\n"
    "\t<genre>Com&#233;die</genre>\r\n"
    "\t<kodi:genre>kept: not a direct plain genre</kodi:genre>\r\n"
    "</movie>\r\n"
    "https://www.imdb.com/title/tt0211915/\r\n"
)


@pytest.mark.parametrize("genres", [
    ["Drama", "Romance", "Comédie"],  # unchanged: not a single byte may move
    ["Drama", "Romance"],  # one removed
    ["Drama", "Romance", "Comedy", "Fantasy"],  # one renamed, one added
    [],  # all removed
    ["War"],
])
def test_nfo_round_trip_is_byte_exact_outside_the_genres(tmp_path, genres):
    video = tmp_path / "Amélie.mkv"
    video.write_bytes(b"x")
    nfo = tmp_path / "Amélie.nfo"
    before = TRICKY.encode("utf-8")
    nfo.write_bytes(before)
    _, changed = write_nfo(video, genres)
    after = nfo.read_bytes()
    assert changed == (genres != ["Drama", "Romance", "Comédie"])
    if not changed:
        assert after == before
    assert after.startswith(b"\xef\xbb\xbf<?xml version='1.0'")  # BOM and declaration kept
    assert outside_genres(after) == outside_genres(before)
    text = after.decode("utf-8")
    assert text.count("\r\n") == text.count("\n")  # every line end still CRLF
    found = re.findall(r"\t<genre>(.*?)</genre>", text)
    if genres[:2] == ["Drama", "Romance"]:
        assert "<genre><![CDATA[Romance]]></genre>" in text  # an unchanged one keeps its bytes
    assert [g.replace("<![CDATA[", "").replace("]]>", "").replace("&#233;", "é")
            for g in found] == genres
    assert write_nfo(video, genres) == (nfo, False)  # idempotent


@pytest.mark.parametrize("doc, why", [
    ('<?xml version="1.0"?>\n<!DOCTYPE movie [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
     "<movie><title>&xxe;</title></movie>\n", "entities"),
    ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
     '"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n<movie>&lol2;</movie>\n',
     "billion laughs"),
    ("this is not xml at all\n", "no root element"),
    ("<movie><title>x</movie>\n", "not valid XML"),
])
def test_hostile_or_broken_nfos_are_refused_saying_why(tmp_path, doc, why):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    nfo = tmp_path / "a.nfo"
    nfo.write_text(doc, encoding="utf-8")
    with pytest.raises(NfoRefused, match=why):
        write_nfo(video, ["Horror"])
    assert nfo.read_text(encoding="utf-8") == doc


def test_new_nfos_get_normal_permissions(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    old = os.umask(0o027)
    try:
        path, _ = write_nfo(video, ["Horror"])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # 0666 less the umask, not mkstemp's 0600
    assert update_nfo_text(path.read_text(encoding="utf-8"), ["Horror"]) \
        == path.read_text(encoding="utf-8")


def _library_with_tags(tmp_path: Path, real_clips, n: int) -> list[Path]:
    folder = tmp_path / "films"
    clips = make_clips(real_clips["bbb"], folder, n)
    write_config(workers=0)
    assert main(["scan", str(folder)]) == 0
    assert main(["set", str(clips[0]), "+Western"]) == 0
    return clips


def test_export_skips_read_only_follows_symlinks_and_reports(tmp_path, real_clips, capsys):
    a, b, c, d = _library_with_tags(tmp_path, real_clips, 4)
    before = corrections()
    ro = a.with_suffix(".nfo")
    ro.write_text("<movie><title>locked</title></movie>\n", encoding="utf-8")
    ro.chmod(0o444)
    shared = tmp_path / "shared" / "common.nfo"
    shared.parent.mkdir()
    shared.write_text("<movie>\r\n  <title>shared</title>\r\n</movie>\r\n", encoding="utf-8")
    shared.chmod(0o664)
    for v in (b, c):
        v.with_suffix(".nfo").symlink_to(shared)
    capsys.readouterr()
    assert main(["export", "--format", "nfo"]) == 0
    out, err = capsys.readouterr()
    # read-only: skipped and reported, not a byte or a mode bit changed
    assert ro.read_text(encoding="utf-8") == "<movie><title>locked</title></movie>\n"
    assert ro.stat().st_mode & 0o777 == 0o444
    assert f"skipped {ro}: NFO left untouched: it is read-only" in err
    # symlinks: still links, the shared target edited in place (mode kept, CRLF kept)
    for v in (b, c):
        assert v.with_suffix(".nfo").is_symlink()
    text = shared.read_bytes().decode("utf-8")
    assert "<genre>" in text and "\r\n  <title>shared</title>\r\n" in text
    assert shared.stat().st_mode & 0o777 == 0o664
    assert not [p for p in shared.parent.iterdir() if p.name != "common.nfo"]  # no temp left
    assert oct(d.with_suffix(".nfo").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    # --nfo-symlinks skip: links left alone and reported
    shared.write_text("<movie><title>again</title></movie>\n", encoding="utf-8")
    assert main(["export", "--format", "nfo", "--nfo-symlinks", "skip"]) == 0
    err = capsys.readouterr().err
    assert shared.read_text(encoding="utf-8") == "<movie><title>again</title></movie>\n"
    assert err.count("it is a symbolic link") == 2
    assert corrections() == before
    assert_sane()


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old
