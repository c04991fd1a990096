"""Where trailertagger keeps its files (platformdirs), with one override for tests and
portable installs: ``TRAILERTAGGER_HOME`` puts config, data, cache and logs under one folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "trailertagger"


@dataclass(frozen=True)
class AppDirs:
    config: Path
    data: Path
    cache: Path
    log: Path

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def models(self) -> Path:
        """User model cache: the store downloads here and looks here second."""
        return self.cache / "models"

    @property
    def features(self) -> Path:
        return self.cache / "features"

    @property
    def heads(self) -> Path:
        """Trained genre heads (ONNX + model card) the app can activate."""
        return self.data / "heads"

    @property
    def library_db(self) -> Path:
        return self.data / "library.sqlite3"


def app_dirs() -> AppDirs:
    home = os.environ.get("TRAILERTAGGER_HOME")
    if home:
        root = Path(home)
        return AppDirs(root / "config", root / "data", root / "cache", root / "log")
    return AppDirs(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_cache_dir(APP_NAME)),
        Path(platformdirs.user_log_dir(APP_NAME)),
    )
