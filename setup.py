"""Package layout: minigan/ plus kernels/, which installs as minigan.kernels, and the compiled
CPU kernels of csrc/ as minigan.kernels._C.

The extension is optional: if it does not compile (or MINIGAN_BUILD_EXTENSION=0), the install
goes on without it and the numpy backend uses its numpy code for the same kernels.
"""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

packages = ["minigan", *(f"minigan.{p}" for p in find_packages("minigan"))]
packages += ["minigan.kernels", *(f"minigan.kernels.{p}" for p in find_packages("kernels"))]


NOT_BUILT = "minigan: the compiled CPU kernels (minigan.kernels._C) were not built: {}; " \
    "minigan runs without them, with numpy code for the same kernels"


def say(message: str) -> None:
    """pip shows a build's output with -v (``python -m minigan`` says the same at any time)."""
    print(message, file=sys.stderr, flush=True)


class BuildExt(build_ext):
    """build_ext that says whether the optional extension was built."""

    def run(self):
        super().run()
        for ext in self.extensions:
            if os.path.exists(self.get_ext_fullpath(ext.name)):
                say(f"minigan: the compiled CPU kernels ({ext.name}) were built")
            else:
                say(NOT_BUILT.format("the compiler failed (its error is above)"))


def extensions() -> list:
    if os.environ.get("MINIGAN_BUILD_EXTENSION", "1") == "0":
        say(NOT_BUILT.format("MINIGAN_BUILD_EXTENSION=0"))
        return []
    try:
        import pybind11
    except ImportError:  # a build without isolation on a machine without pybind11
        say(NOT_BUILT.format("pybind11 is not installed in the build environment"))
        return []
    return [Extension(
        "minigan.kernels._C",
        sources=["csrc/module.cpp", "csrc/cpu/im2col.cpp", "csrc/cpu/normalize.cpp"],
        depends=["csrc/cpu/im2col.h", "csrc/cpu/normalize.h", "csrc/cpu/parallel.h"],
        include_dirs=["csrc", pybind11.get_include()],
        extra_compile_args=["-O3", "-std=c++17", "-fvisibility=hidden", "-g0"],
        extra_link_args=["-pthread"],
        language="c++",
        optional=True,
    )]


setup(
    packages=packages,
    package_dir={"minigan": "minigan", "minigan.kernels": "kernels"},
    package_data={"minigan.kernels": ["**/*.cu", "**/*.cuh"],
                  "minigan.metrics": ["weights/*.safetensors"]},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
