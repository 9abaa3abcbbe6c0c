# nvidia-ml-py is one pure-Python module that loads the driver's libnvidia-ml at run time: nothing
# to bundle but the module itself (the driver belongs to the person's machine, never the bundle).
hiddenimports = ["pynvml"]
