# CTranslate2 (faster-whisper's engine): its shared libraries live in ctranslate2.libs / the
# package folder and are loaded by the extension module.
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("ctranslate2")
datas = collect_data_files("ctranslate2")
