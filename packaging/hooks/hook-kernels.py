# kernels (a transformers dependency: Hub kernels): it reads python_depends.json at import, and
# transformers refuses to start when its metadata is present but the package cannot load.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("kernels", includes=["**/*.json"])
