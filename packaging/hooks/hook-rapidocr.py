# RapidOCR: config.yaml, its model folder (the bundled PP-OCR weights) and the lazily imported
# inference engines.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

datas = collect_data_files("rapidocr")
hiddenimports = collect_submodules("rapidocr", filter=lambda n: "paddle" not in n and "openvino" not in n
                                   and "tensorrt" not in n and "mnn" not in n)
