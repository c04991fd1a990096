# sentence-transformers loads its modules by name from a model folder's modules.json.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("sentence_transformers",
                                   filter=lambda n: ".evaluation" not in n and ".trainer" not in n)
datas = collect_data_files("sentence_transformers")
