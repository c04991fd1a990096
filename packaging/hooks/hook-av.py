# PyAV: FFmpeg's shared libraries ship in av.libs (manylinux wheels) beside the package, and
# PyAV imports many of its Cython submodules from compiled code.
from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

binaries = collect_dynamic_libs("av")
hiddenimports = collect_submodules("av")
