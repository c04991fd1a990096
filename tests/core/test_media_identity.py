"""The sampled content hash: stable, the same digests as the ``tt1`` hashes libraries already
store, and a bounded number of bytes read however large the file; full hash on demand."""

from __future__ import annotations

import builtins
import hashlib
import json

import pytest

from trailertagger.core.media import identity

# Digests written by the scheme as first released (pinned: stored libraries depend on them).
BIG_TT1 = "tt1:4bc742d5865d0499750f447652cb55f7e3acbfa02c3e67b5379b116f4928eb54"
SMALL_TT1 = "tt1:b766bc0e58fbae6e79446c9586b88a9abb5f448790965c0c5e28f968503cd8ed"


def _big(path, size=100 * 1024 * 1024 + 17):
    """A sparse file (no disk space, instant) with markers every ~7 MiB."""
    with open(path, "wb") as f:
        f.truncate(size)
        for k in range(0, size, 7 * 1024 * 1024 + 3):
            f.seek(k)
            f.write(b"trailertagger %d" % k)
    return path


class _Counting:
    def __init__(self, fh, counter):
        self._fh, self._counter = fh, counter

    def read(self, n=-1):
        data = self._fh.read(n)
        self._counter["bytes"] += len(data)
        self._counter["reads"] += 1
        return data

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


@pytest.fixture
def counted(monkeypatch):
    counter = {"bytes": 0, "reads": 0}
    real_open = builtins.open

    def fake_open(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        return _Counting(fh, counter) if "b" in mode and "r" in mode else fh

    monkeypatch.setattr(identity, "open", fake_open, raising=False)
    return counter


def test_existing_tt1_digests_are_unchanged(tmp_path):
    big = _big(tmp_path / "film.mkv")
    small = tmp_path / "small.bin"
    small.write_bytes(bytes(range(256)) * 4000)
    assert identity.content_hash(big) == BIG_TT1
    assert identity.content_hash(small) == SMALL_TT1
    assert identity.scheme_of(BIG_TT1) == "tt1" and identity.scheme_of("md5:x") == ""


def test_sampled_hash_reads_a_bounded_number_of_bytes(tmp_path, counted):
    for size in (100 * 1024 * 1024 + 17, 3 * 1024 ** 3):  # 100 MiB and 3 GiB (sparse)
        path = _big(tmp_path / f"film{size}.mkv", size)
        counted.update(bytes=0, reads=0)
        h = identity.content_hash(path)
        assert counted["bytes"] == identity.SAMPLES * identity.SAMPLE_SIZE
        assert counted["bytes"] == identity.max_bytes_read(size)
        assert counted["reads"] == identity.SAMPLES
        assert identity.content_hash(path) == h  # stable
    offsets = identity.sample_offsets(size)
    assert offsets[0] == 0 and offsets[-1] == size - identity.SAMPLE_SIZE


def test_sampled_hash_sees_header_tail_and_size_changes(tmp_path):
    path = _big(tmp_path / "film.mkv")
    h = identity.content_hash(path)
    copy = tmp_path / "moved copy.mkv"
    copy.write_bytes(path.read_bytes())
    assert identity.content_hash(copy) == h  # identity follows content, not the name
    size = path.stat().st_size
    for where in (10, size - 10, identity.sample_offsets(size)[7] + 5):
        with open(copy, "r+b") as f:
            f.seek(where)
            old = f.read(1)
            f.seek(where)
            f.write(bytes([old[0] ^ 0xFF]))
        assert identity.content_hash(copy) != h
        with open(copy, "r+b") as f:
            f.seek(where)
            f.write(old)
    with open(copy, "ab") as f:
        f.write(b"x")
    assert identity.content_hash(copy) != h


def test_full_hash_on_demand_reads_everything(tmp_path, counted):
    path = tmp_path / "clip.bin"
    data = bytes(range(256)) * 50_000
    path.write_bytes(data)
    counted.update(bytes=0, reads=0)
    assert identity.full_hash(path) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert counted["bytes"] == len(data)


def test_hash_command(tmp_path, capsys):
    from trailertagger.cli.main import main

    path = tmp_path / "clip.bin"
    path.write_bytes(b"abc" * 1000)
    assert main(["hash", "--full", "--json", str(path)]) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    assert rec["content_hash"] == identity.content_hash(path)
    assert rec["full_hash"] == identity.full_hash(path)
    assert rec["bytes_read"] == 3000
    assert main(["hash", str(tmp_path / "missing.mkv")]) == 1
