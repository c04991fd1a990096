"""The model store for real: resolution order (override, user cache, installed package),
checksums and trust on first use, clear missing-model errors, and downloads from a loopback
HTTP server (progress, checksum, atomic rename, resume after a dropped connection)."""

from __future__ import annotations

import hashlib
import http.server
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from trailertagger.core.errors import ModelChecksumError, ModelMissingError
from trailertagger.core.models.checksum import record_path
from trailertagger.core.models.download import part_path
from trailertagger.core.models.store import ModelStore

PAYLOAD = bytes(range(256)) * 800  # 204800 bytes
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
CONFIG = b'{"hidden": 8}\n'
CONFIG_SHA = hashlib.sha256(CONFIG).hexdigest()


# ----------------------------------------------------------------------------- helpers


class Server:
    """A loopback HTTP server (127.0.0.1 only) serving ``files`` with Range support.

    ``drop_after`` makes the first GET of a path send that many bytes and hang up (a dropped
    connection); ``requests`` records (path, Range header) of every request."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.drop_after: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                drop = outer.drop_after.pop(self.path, None)
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server({"/w.bin": PAYLOAD, "/config.json": CONFIG})
    yield srv
    srv.close()


def write_manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model_id = text.split('id = "', 1)[1].split('"', 1)[0]
    path = folder / f"{model_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def pinned_manifest(folder: Path, url: str = "", package: str = "") -> None:
    urls = (f'url = "{url}/w.bin"', f'url = "{url}/config.json"') if url else ("", "")
    pkg = f'package = "{package}"\npackage_path = "weights"\n' if package else ""
    write_manifest(folder, f"""
id = "tiny-net"
description = "a tiny test network"
used_by = ["test.tiny"]
main = "w.bin"
{pkg}
[[files]]
name = "w.bin"
sha256 = "{PAYLOAD_SHA}"
size = {len(PAYLOAD)}
{urls[0]}

[[files]]
name = "sub/config.json"
sha256 = "{CONFIG_SHA}"
{urls[1]}
""")


def place(root: Path) -> Path:
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "w.bin").write_bytes(PAYLOAD)
    (root / "sub" / "config.json").write_bytes(CONFIG)
    return root


def make_store(tmp_path: Path, **kw) -> ModelStore:
    return ModelStore(override_dir=kw.pop("override", None), cache_dir=tmp_path / "cache",
                      manifest_dirs=[tmp_path / "manifests"], **kw)


# ----------------------------------------------------------------------------- resolution


def test_resolution_order_override_then_cache_then_package(tmp_path, monkeypatch):
    site = tmp_path / "site"
    place(site / "tt_fake_weights_pkg" / "weights")
    (site / "tt_fake_weights_pkg" / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    monkeypatch.syspath_prepend(str(site))
    pinned_manifest(tmp_path / "manifests", package="tt_fake_weights_pkg")
    store = make_store(tmp_path, override=tmp_path / "override")

    res = store.resolve("tiny-net")
    assert res.source == "package" and res.sha256 == PAYLOAD_SHA
    assert res.path == site / "tt_fake_weights_pkg" / "weights"  # multi-file: the folder
    assert res.file("sub/config.json").read_bytes() == CONFIG
    assert "tt_fake_weights_pkg" not in sys.modules, "found without importing the package"

    place(tmp_path / "cache" / "tiny-net")
    assert store.resolve("tiny-net").source == "cache"
    place(tmp_path / "override" / "tiny-net")
    res = store.resolve("tiny-net")
    assert res.source == "override" and res.path == tmp_path / "override" / "tiny-net"


def test_half_filled_override_is_skipped_and_reported(tmp_path):
    pinned_manifest(tmp_path / "manifests")
    (tmp_path / "override" / "tiny-net").mkdir(parents=True)
    (tmp_path / "override" / "tiny-net" / "w.bin").write_bytes(PAYLOAD)
    store = make_store(tmp_path, override=tmp_path / "override")
    with pytest.raises(ModelMissingError) as err:
        store.resolve("tiny-net")
    msg = str(err.value)
    assert "lacks sub/config.json" in msg
    place(tmp_path / "cache" / "tiny-net")
    assert store.resolve("tiny-net").source == "cache"


def test_missing_model_error_names_model_and_folder(tmp_path):
    pinned_manifest(tmp_path / "manifests", url="http://127.0.0.1:9")
    store = make_store(tmp_path)
    with pytest.raises(ModelMissingError) as err:
        store.resolve("tiny-net")
    msg = str(err.value)
    assert "'tiny-net'" in msg and "a tiny test network" in msg and "test.tiny" in msg
    assert str(tmp_path / "cache" / "tiny-net" / "w.bin") in msg
    assert "allow downloads" in msg and "TRAILERTAGGER_ALLOW_DOWNLOAD" in msg
    assert store.locate("tiny-net") is None
    with pytest.raises(ModelMissingError, match="unknown model id 'nope'"):
        store.resolve("nope")


def test_pinned_checksum_mismatch_is_a_clear_error(tmp_path):
    pinned_manifest(tmp_path / "manifests")
    root = place(tmp_path / "override" / "tiny-net")
    bad = bytearray(PAYLOAD)
    bad[1000] ^= 0xFF  # same size, one flipped byte
    (root / "w.bin").write_bytes(bytes(bad))
    store = make_store(tmp_path, override=tmp_path / "override")
    with pytest.raises(ModelChecksumError) as err:
        store.resolve("tiny-net")
    msg = str(err.value)
    assert "checksum mismatch" in msg and str(root / "w.bin") in msg and PAYLOAD_SHA in msg
    assert "override folder" in msg  # what to do about it
    (root / "w.bin").write_bytes(PAYLOAD[:-1])
    with pytest.raises(ModelChecksumError, match="bytes, the manifest says"):
        store.resolve("tiny-net")
    assert not store.check("tiny-net").ok


def test_unpinned_cache_file_is_trusted_on_first_use_then_verified(tmp_path):
    write_manifest(tmp_path / "manifests", """
id = "loose"
description = "unpinned download"
[[files]]
name = "m.bin"
url = "http://127.0.0.1:9/m.bin"
""")
    root = tmp_path / "cache" / "loose"
    root.mkdir(parents=True)
    (root / "m.bin").write_bytes(b"first version")
    store = make_store(tmp_path)
    res = store.resolve("loose")
    assert res.source == "cache" and res.path == root / "m.bin"
    assert record_path(root / "m.bin").read_text().startswith(res.sha256)
    (root / "m.bin").write_bytes(b"tampered file")  # same size, new content
    with pytest.raises(ModelChecksumError, match="recorded on first use"):
        make_store(tmp_path).resolve("loose")


def test_zip_archive_from_a_package_is_extracted_once(tmp_path, monkeypatch):
    site = tmp_path / "site"
    pkg = site / "tt_fake_zip_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    with zipfile.ZipFile(pkg / "bundle.zip", "w") as zf:
        zf.writestr("w.bin", PAYLOAD)
        zf.writestr("sub/config.json", CONFIG)
        zf.writestr("../evil.txt", "never extracted")
    monkeypatch.syspath_prepend(str(site))
    text = (f'id = "zipped"\ndescription = "zipped"\npackage = "tt_fake_zip_pkg"\n'
            f'package_path = "bundle.zip"\narchive = "zip"\n'
            f'[[files]]\nname = "w.bin"\nsha256 = "{PAYLOAD_SHA}"\n'
            f'[[files]]\nname = "sub/config.json"\nsha256 = "{CONFIG_SHA}"\n')
    write_manifest(tmp_path / "manifests", text)
    store = make_store(tmp_path)
    res = store.resolve("zipped")
    assert res.path == tmp_path / "cache" / "zipped" and res.sha256 == PAYLOAD_SHA
    assert not (tmp_path / "cache" / "evil.txt").exists()
    assert store.resolve("zipped").source == "cache"  # second time: already extracted


def test_real_packaged_weights_resolve_verified():
    store = ModelStore(allow_download=False)
    res = store.resolve("effnet-lite0-imagenet")
    assert res.source == "package"
    assert res.sha256 == store.spec("effnet-lite0-imagenet").files[0].sha256
    check = store.check("whisper-tiny-en")
    assert check.ok and check.files[0].name == "model.bin" and all(f.ok for f in check.files)


# ----------------------------------------------------------------------------- downloads


def test_download_with_progress_checksum_and_atomic_rename(tmp_path, server):
    pinned_manifest(tmp_path / "manifests", url=server.url(""))
    seen: list[tuple[str, int, int | None]] = []
    store = make_store(tmp_path, allow_download=True, progress=lambda *a: seen.append(a))
    res = store.resolve("tiny-net")
    root = tmp_path / "cache" / "tiny-net"
    assert res.source == "download" and res.sha256 == PAYLOAD_SHA
    assert (root / "w.bin").read_bytes() == PAYLOAD
    assert (root / "sub" / "config.json").read_bytes() == CONFIG
    assert not part_path(root / "w.bin").exists()
    labels = {s[0] for s in seen}
    assert labels == {"tiny-net/w.bin", "tiny-net/sub/config.json"}
    done = [s for s in seen if s[0] == "tiny-net/w.bin"]
    assert done[-1][1:] == (len(PAYLOAD), len(PAYLOAD)) and len(done) > 2
    assert [d[1] for d in done] == sorted(d[1] for d in done)
    # next time: straight from the cache, no request
    n = len(server.requests)
    assert make_store(tmp_path).resolve("tiny-net").source == "cache"
    assert len(server.requests) == n


def test_dropped_connection_resumes_with_range(tmp_path, server):
    pinned_manifest(tmp_path / "manifests", url=server.url(""))
    server.drop_after["/w.bin"] = 50000
    store = make_store(tmp_path, allow_download=True)
    dest = tmp_path / "cache" / "tiny-net" / "w.bin"
    with pytest.raises(ModelMissingError) as err:
        store.resolve("tiny-net")
    assert "run again to resume" in str(err.value) or "could not download" in str(err.value)
    assert not dest.exists(), "nothing unverified at the final path"
    assert part_path(dest).stat().st_size == 50000
    res = store.resolve("tiny-net")
    assert res.sha256 == PAYLOAD_SHA and dest.read_bytes() == PAYLOAD
    assert ("/w.bin", "bytes=50000-") in server.requests
    assert not part_path(dest).exists()


def test_corrupt_download_is_deleted_and_reported(tmp_path, server):
    pinned_manifest(tmp_path / "manifests", url=server.url(""))
    server.files["/w.bin"] = PAYLOAD[:-1] + b"\x00"  # right size, wrong bytes
    store = make_store(tmp_path, allow_download=True)
    with pytest.raises(ModelChecksumError) as err:
        store.resolve("tiny-net")
    assert "corrupt or not the expected file" in str(err.value)
    dest = tmp_path / "cache" / "tiny-net" / "w.bin"
    assert not dest.exists() and not part_path(dest).exists()


def test_offline_or_disallowed_gives_model_missing(tmp_path, server):
    pinned_manifest(tmp_path / "manifests", url=server.url(""))
    with pytest.raises(ModelMissingError, match="allow downloads"):
        make_store(tmp_path, allow_download=False).resolve("tiny-net")
    assert server.requests == [], "downloads off: not a single request"

    # nothing listens on the port any more: what being offline looks like on loopback
    url = server.url("")
    server.close()
    pinned_manifest(tmp_path / "manifests", url=url)
    with pytest.raises(ModelMissingError) as err:
        make_store(tmp_path, allow_download=True).resolve("tiny-net")
    msg = str(err.value)
    assert "connection refused" in msg and "offline" in msg
    assert str(tmp_path / "cache" / "tiny-net" / "w.bin") in msg


def test_from_config_env_beats_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAILERTAGGER_MODELS", str(tmp_path / "ovr"))
    monkeypatch.setenv("TRAILERTAGGER_ALLOW_DOWNLOAD", "1")
    store = ModelStore.from_config({"models": {"override_dir": "/elsewhere", "allow_download": False}})
    assert store.override_dir == tmp_path / "ovr" and store.allow_download
    assert store.folder_for("x") == tmp_path / "ovr" / "x"
