# trailertagger: extractors, writers and services are found by "module:Class" strings at run
# time, so every submodule goes in; resources (profiles, model manifests, genre lists) and the
# Alembic migrations (read as .py files from their folder) go in as data.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules(
    "trailertagger", filter=lambda name: not name.startswith("trailertagger.devtools.fidelity"))
datas = collect_data_files("trailertagger", include_py_files=False)
datas += collect_data_files("trailertagger.core.library", include_py_files=True,
                            subdir="migrations")
