"""Labelled datasets: the seed authors' label format, a simple CSV, and feature loading.

Two label formats are read here (the user's own library is a third source, built elsewhere on
the same ``Sample`` type):

1. **Seed format** (MovieNet trailers as the seed paper distributes them): a CSV with columns
   ``imdb_id, youtube_id, genres, title, duration`` where ``genres`` is a Python list literal
   such as ``"['Drama', 'History']"``, plus a splits JSON ``{"trn": [...], "val": [...],
   "tst": [...]}`` of youtube ids.  Features are matched by youtube id: ``<id>.npz`` in a
   features folder (our feature-file format), or a video ``<id>.<ext>`` in a videos folder
   whose features are extracted (and cached) on demand.
2. **Simple CSV**: columns ``path`` and ``genres`` (``|``-separated, e.g. ``Horror|Thriller``)
   and an optional ``split`` column (trn/val/tst); paths are relative to the CSV's folder.

Bad rows never crash a load: a row with no genres, an unknown genre, a malformed literal, a
duplicate id or no features is recorded in a :class:`LoadReport` with its row number (the line
number in the file, header = line 1) and skipped.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..features.io import load_featureset
from ..features.types import FeatureSet
from ..genres import GENRE_INDEX, GENRES, normalize_genre
from ..media.files import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

SEED_COLUMNS = ("imdb_id", "youtube_id", "genres", "title", "duration")
SPLITS = ("trn", "val", "tst")
_SPLIT_ALIASES = {"trn": "trn", "train": "trn", "training": "trn", "val": "val", "valid": "val",
                  "validation": "val", "dev": "val", "tst": "tst", "test": "tst"}


@dataclass
class Problem:
    """One skipped row (or id) and why."""

    row: int | None
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "splits"
        return f"{where}: {self.key or '(no id)'}: {self.reason}"


@dataclass
class LoadReport:
    """What a load kept and what it skipped, to print before training."""

    source: str
    rows: int = 0
    kept: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, row: int | None, key: str, reason: str) -> None:
        self.problems.append(Problem(row, key, reason))

    def format(self, limit: int = 20) -> str:
        lines = [f"{self.source}: {self.kept} of {self.rows} rows usable, "
                 f"{len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


@dataclass
class LabelledItem:
    """One labelled video: its id, genres, and where its features come from."""

    key: str
    genres: tuple[str, ...]
    row: int | None = None
    title: str = ""
    features_path: Path | None = None
    video_path: Path | None = None
    features: FeatureSet | None = None
    split: str = ""

    @property
    def labels(self) -> np.ndarray:
        return labels_vector(self.genres)


def labels_vector(genres: Sequence[str]) -> np.ndarray:
    """``[21]`` float32 0/1 in GENRES order."""
    y = np.zeros(len(GENRES), dtype=np.float32)
    for g in genres:
        y[GENRE_INDEX[g]] = 1.0
    return y


def parse_genre_literal(text: str) -> list[str]:
    """The seed CSV's ``"['Drama', 'History']"`` as a list of strings; ValueError if malformed."""
    try:
        value = ast.literal_eval((text or "").strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
        raise ValueError(f"malformed genres literal {text!r}") from err
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(g, str) for g in value):
        raise ValueError(f"genres must be a list of strings, got {text!r}")
    return [g for g in value if g.strip()]


def canonical_genres(names: Sequence[str], unknown: str = "skip-row") -> tuple[tuple[str, ...], list[str]]:
    """Canonical, de-duplicated genres in GENRES order, plus the unknown names found.

    ``unknown="skip-row"`` leaves the decision to the caller (unknown names are returned);
    ``"drop"`` silently keeps only the known ones (the unknown ones are still returned).
    """
    known, bad = set(), []
    for name in names:
        try:
            known.add(normalize_genre(name))
        except KeyError:
            bad.append(name)
    return tuple(g for g in GENRES if g in known), bad


def _open_csv(path: Path) -> csv.DictReader:
    """A reader over the whole label file, read at once (label files are small); a file that
    cannot be read or is not UTF-8 is a ``ConfigError`` naming it."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise ConfigError(f"cannot read label file {path}: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err}); save the label file as UTF-8") from err
    return csv.DictReader(io.StringIO(text, newline=""))


def read_seed_labels(path: Path, unknown: str = "skip-row") -> tuple[list[LabelledItem], LoadReport]:
    """Read the seed authors' label CSV; bad rows are reported and skipped.

    ``unknown``: ``"skip-row"`` (default) skips a row that names a genre outside the 21;
    ``"drop"`` keeps the row with only its known genres (reported all the same).
    """
    path = Path(path)
    report = LoadReport(str(path))
    reader = _open_csv(path)
    items: list[LabelledItem] = []
    first_row: dict[str, int] = {}
    try:  # the header is read here too: a broken one is a csv.Error like any other row
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if "youtube_id" not in cols or "genres" not in cols:
            raise ConfigError(f"{path}: not a seed label file; need columns {', '.join(SEED_COLUMNS)}"
                              f" (found: {', '.join(cols) or 'none'})")
        reader.fieldnames = cols
        for rec in reader:
            row = reader.line_num
            report.rows += 1
            key = (rec.get("youtube_id") or "").strip()
            if not key:
                report.add(row, "", "no youtube_id")
                continue
            if key in first_row:
                report.add(row, key, f"duplicate youtube_id (first at row {first_row[key]}); skipped")
                continue
            first_row[key] = row
            try:
                names = parse_genre_literal(rec.get("genres") or "")
            except ValueError as err:
                report.add(row, key, str(err))
                continue
            genres, bad = canonical_genres(names)
            if bad:
                report.add(row, key, f"unknown genre(s) {', '.join(map(repr, bad))}"
                           + ("" if unknown == "drop" and genres else "; row skipped"))
                if unknown != "drop":
                    continue
            if not genres:
                if not bad:
                    report.add(row, key, "no genres")
                continue
            items.append(LabelledItem(key, genres, row, (rec.get("title") or "").strip()))
    except csv.Error as err:
        raise ConfigError(f"{path}: CSV broken near line {reader.line_num}: {err}") from err
    report.kept = len(items)
    return items, report


def read_simple_labels(path: Path, root: Path | None = None) -> tuple[list[LabelledItem], LoadReport]:
    """Read ``path,genres[,split]`` rows (``|``-separated genres); videos relative to ``root``."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    report = LoadReport(str(path))
    reader = _open_csv(path)
    items: list[LabelledItem] = []
    first_row: dict[str, int] = {}
    try:
        cols = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "path" not in cols or "genres" not in cols:
            raise ConfigError(f"{path}: need columns path,genres (found: {', '.join(cols) or 'none'})")
        reader.fieldnames = cols
        for rec in reader:
            row = reader.line_num
            report.rows += 1
            rel = (rec.get("path") or "").strip()
            if not rel:
                report.add(row, "", "no path")
                continue
            video, why = _confined(root, rel)
            if video is None:
                report.add(row, rel, f"{why}; row skipped")
                continue
            key = str(video)
            if key in first_row:
                report.add(row, rel, f"duplicate path (first at row {first_row[key]}); skipped")
                continue
            first_row[key] = row
            names = [g for g in (rec.get("genres") or "").split("|") if g.strip()]
            genres, bad = canonical_genres(names)
            if bad:
                report.add(row, rel, f"unknown genre(s) {', '.join(map(repr, bad))}; row skipped")
                continue
            if not genres:
                report.add(row, rel, "no genres")
                continue
            split = _SPLIT_ALIASES.get((rec.get("split") or "").strip().lower(), "")
            items.append(LabelledItem(rel, genres, row, video_path=video, split=split))
    except csv.Error as err:
        raise ConfigError(f"{path}: CSV broken near line {reader.line_num}: {err}") from err
    report.kept = len(items)
    return items, report


def _confined(root: Path, rel: str) -> tuple[Path | None, str]:
    """The video a CSV row names, if it is a regular file inside the CSV's folder.

    A label file is data, maybe someone else's: ``/dev/zero``, ``/etc/shadow`` or
    ``../../other/film.mp4`` must not be read because a row says so.  Absolute paths and
    ``..`` are refused outright; a symlink is followed only when its target is inside too.
    """
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        return None, "absolute path (paths must be relative to the CSV's folder)"
    if ".." in p.parts or ".." in rel.replace("\\", "/").split("/"):
        return None, "path leaves the CSV's folder ('..')"
    video = root / p
    try:
        real, base = video.resolve(), root.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        return None, f"cannot resolve the path ({err})"
    if not real.is_relative_to(base):
        return None, "path leads outside the CSV's folder (a symbolic link)"
    if video.exists() and not video.is_file():
        return None, "not a regular file (a folder, device or pipe)"
    return video, ""


def read_splits(path: Path) -> dict[str, list[str]]:
    """``{"trn": [...], "val": [...], "tst": [...]}`` (train/valid/test spellings accepted)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read splits file {path}: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: splits must be a JSON object like {{\"trn\": [...], ...}}")
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name, ids in raw.items():
        split = _SPLIT_ALIASES.get(str(name).lower())
        if split is None or not isinstance(ids, list):
            raise ConfigError(f"{path}: unexpected split {name!r}; use trn, val and tst lists")
        out[split].extend(str(i) for i in ids)
    return out


def assign_splits(items: list[LabelledItem], splits: dict[str, list[str]] | None,
                  report: LoadReport, fractions: tuple[float, float] = (0.8, 0.1)) -> dict[str, list[LabelledItem]]:
    """Group items by split.

    With a splits mapping, an id listed in several splits is kept only in the most held-out
    one (tst > val > trn: a test video must never be trained on) and reported; listed ids with
    no usable row are reported.  Without one, an item's own ``split`` is used, else a stable
    hash of its key gives an 80/10/10 split that does not change when rows are added.
    """
    by_key = {it.key: it for it in items}
    out: dict[str, list[LabelledItem]] = {s: [] for s in SPLITS}
    if splits is not None:
        placed: dict[str, str] = {}
        for split in ("tst", "val", "trn"):
            for key in splits.get(split, []):
                if key in placed:
                    if placed[key] != split:
                        report.add(None, key, f"listed in both {placed[key]} and {split}; kept in {placed[key]}")
                    continue
                placed[key] = split
                if key not in by_key:
                    report.add(None, key, f"in {split} split but no usable label row")
                    continue
                by_key[key].split = split
                out[split].append(by_key[key])
        unplaced = [k for k in by_key if k not in placed]
        if unplaced:
            log.info("%d labelled ids are in no split and are not used", len(unplaced))
        for split in SPLITS:  # keep the splits file's order, deterministic
            order = {k: i for i, k in enumerate(splits.get(split, []))}
            out[split].sort(key=lambda it, o=order: o.get(it.key, 0))
        return out
    for it in items:
        split = it.split
        if not split:
            h = int(hashlib.sha1(it.key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
            split = "trn" if h < fractions[0] else "val" if h < fractions[0] + fractions[1] else "tst"
        out[split].append(it)
    return out


def _index_folder(folder: Path, exts: Sequence[str]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.suffix.lower() in exts and p.is_file():
            index.setdefault(p.stem, p)
    return index


def attach_features(items: list[LabelledItem], report: LoadReport, features_dir: Path | None = None,
                    videos_dir: Path | None = None) -> list[LabelledItem]:
    """Find each item's feature file (``<key>.npz``) or video; items with neither are skipped.

    Video paths from a simple CSV are kept as they are; seed ids are looked up in
    ``videos_dir`` (any common video extension).  Extraction itself happens later, lazily.
    """
    feats = _index_folder(features_dir, (".npz",)) if features_dir else {}
    videos = _index_folder(videos_dir, VIDEO_EXTENSIONS) if videos_dir else {}
    kept = []
    for it in items:
        stem = Path(it.key).stem if it.video_path is not None else it.key
        if stem in feats:
            it.features_path = feats[stem]
        elif it.video_path is None and it.key in videos:
            it.video_path = videos[it.key]
        if it.features_path is None and (it.video_path is None or not it.video_path.exists()):
            where = ", ".join(str(d) for d in (features_dir, videos_dir) if d) or "no folder given"
            report.add(it.row, it.key, f"no feature file or video found ({where}); skipped")
            continue
        kept.append(it)
    report.kept = len(kept)
    return kept


Extractor = Callable[[Path], FeatureSet]


def pipeline_extractor(profile: str = "default") -> Extractor:
    """Features for a video via the app pipeline (cached by content hash), imported lazily.

    One extraction session serves every video, so the extractors' models load once rather
    than once per video.
    """
    session = None

    def run(path: Path) -> FeatureSet:
        nonlocal session
        if session is None:
            from ..pipeline import ExtractionSession  # the app's extraction pipeline

            session = ExtractionSession(profile)
        return session.run(Path(path)).features
    return run


class FeatureSamples(Sequence):
    """A lazy ``Sequence[Sample]`` over labelled items: features load (or extract) on access.

    ``labels`` (``[N, 21]``) is available without touching features, so training can compute
    label frequencies for free.  With ``cache`` the loaded FeatureSets stay in memory (the
    default for up to 2,000 videos); larger sets are read from disk each epoch.
    """

    def __init__(self, items: Sequence[LabelledItem], cache: bool | None = None,
                 extractor: Extractor | None = None) -> None:
        self.items = list(items)
        self.labels = np.stack([it.labels for it in self.items]) if self.items else np.zeros(
            (0, len(GENRES)), dtype=np.float32)
        self.cache = len(self.items) <= 2000 if cache is None else cache
        self.extractor = extractor
        self._loaded: dict[int, FeatureSet] = {}

    @property
    def keys(self) -> list[str]:
        return [it.key for it in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def features(self, i: int) -> FeatureSet:
        if i in self._loaded:
            return self._loaded[i]
        it = self.items[i]
        if it.features is not None:
            fs = it.features
        elif it.features_path is not None:
            fs = load_featureset(it.features_path)
        elif it.video_path is not None:
            fs = (self.extractor or pipeline_extractor())(it.video_path)
        else:  # pragma: no cover - attach_features filters these out
            raise FileNotFoundError(f"{it.key}: no features")
        if self.cache:
            self._loaded[i] = fs
        return fs

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return FeatureSamples(self.items[i], self.cache, self.extractor)
        i = int(i)
        if i < 0:
            i += len(self)
        return self.features(i), self.labels[i]

    def __iter__(self) -> Iterator:
        return (self[i] for i in range(len(self)))


@dataclass
class Dataset:
    """Split samples plus the report of what was skipped while loading."""

    splits: dict[str, FeatureSamples]
    report: LoadReport

    def __getitem__(self, split: str) -> FeatureSamples:
        return self.splits[split]


def _drop_unreadable(items: list[LabelledItem], report: LoadReport,
                     extractor: Extractor | None = None, keep: bool = True) -> list[LabelledItem]:
    """Skip feature files that are not ours or are damaged, and (with ``extractor``) videos
    that do not decode, with their row numbers: one bad row never stops a training run.  A
    missing model still stops it (that is the setup, not the row).  ``keep=False`` checks
    only (videos are extracted into the feature cache, feature files are not held)."""
    from ..errors import MediaError

    kept = []
    for it in items:
        if it.features_path is not None:
            if not keep:
                kept.append(it)
                continue
            try:
                it.features = load_featureset(it.features_path)
            except (OSError, ValueError, KeyError) as err:
                report.add(it.row, it.key, f"unreadable feature file {it.features_path.name} ({err}); skipped")
                continue
        elif it.video_path is not None and extractor is not None:
            try:
                fs = extractor(it.video_path)
                if keep:
                    it.features = fs
            except MediaError as err:
                report.add(it.row, it.key, f"cannot use the video ({err.reason}"
                           + (f": {err.detail}" if err.detail else "") + "); skipped")
                continue
            except OSError as err:
                report.add(it.row, it.key, f"cannot read the video ({err.strerror or err}); skipped")
                continue
        kept.append(it)
    return kept


def load_seed_dataset(labels_csv: Path, splits_json: Path | None, features_dir: Path | None = None,
                      videos_dir: Path | None = None, unknown: str = "skip-row",
                      preload: bool | None = None, profile: str = "default") -> Dataset:
    """The seed authors' format end to end: labels, splits, features (see module doc).

    ``preload`` reads every feature file now (default: when there are at most 2,000), so a
    damaged file is reported with its row number before training starts.
    """
    items, report = read_seed_labels(labels_csv, unknown)
    splits = read_splits(splits_json) if splits_json else None
    return _finish(items, report, splits, features_dir, videos_dir, preload, profile)


def load_simple_dataset(labels_csv: Path, features_dir: Path | None = None, splits_json: Path | None = None,
                        preload: bool | None = None, profile: str = "default") -> Dataset:
    """A folder of videos with a ``path,genres`` CSV (features from ``features_dir`` or extracted)."""
    items, report = read_simple_labels(labels_csv)
    splits = read_splits(splits_json) if splits_json else None
    return _finish(items, report, splits, features_dir, None, preload, profile)


def _finish(items, report, splits, features_dir, videos_dir, preload, profile) -> Dataset:
    items = attach_features(items, report, features_dir, videos_dir)
    if preload is None:
        preload = len(items) <= 2000
    ex = pipeline_extractor(profile)
    # videos are extracted now either way (into the feature cache): a video that does not
    # decode is a skipped row with its line number, not an error in the middle of training
    items = _drop_unreadable(items, report, ex, keep=bool(preload))
    report.kept = len(items)
    grouped = assign_splits(items, splits, report)
    return Dataset({s: FeatureSamples(v, extractor=ex) for s, v in grouped.items()}, report)
