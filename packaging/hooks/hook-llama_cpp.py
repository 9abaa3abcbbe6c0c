# llama-cpp-python loads its shared libraries from llama_cpp/lib next to its own files; without this
# hook PyInstaller misses them ("Shared library with base name 'llama' not found").
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")
datas = collect_data_files("llama_cpp", excludes=["**/*.py", "**/*.pyc", "server/**"])
