"""Package layout: minigan/ plus kernels/, which installs as minigan.kernels, and the compiled
kernels of csrc/: the CPU module minigan.kernels._C and the CUDA module minigan.kernels._C_cuda.

Both are optional and built independently:
- ``_C`` (csrc/module.cpp, csrc/cpu/*.cpp; g++): skipped with MINIGAN_BUILD_EXTENSION=0; a
  failed compile leaves a working install, the numpy backend then runs its numpy code.
- ``_C_cuda`` (csrc/cuda/*.cu with nvcc, csrc/cuda/*.cpp with the host compiler): built when
  nvcc is found (CUDA_HOME/bin, then PATH). MINIGAN_BUILD_CUDA=0 skips it, =1 requires it (the
  install fails if nvcc is missing or a source does not compile). It links the CUDA runtime
  statically, so importing it needs no CUDA library and no GPU; the CuPy backend needs it.
  Targets: sm_80 and sm_90 code plus compute_90 PTX (MINIGAN_CUDA_ARCH="80;90" to change).

Both share the host/device math headers of kernels/include/minigan/, which also ship with the
package for the CuPy backend's runtime-compiled kernels.
"""

import glob
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

packages = ["minigan", *(f"minigan.{p}" for p in find_packages("minigan"))]
packages += ["minigan.kernels", *(f"minigan.kernels.{p}" for p in find_packages("kernels"))]

CPU_EXT, CUDA_EXT = "minigan.kernels._C", "minigan.kernels._C_cuda"
NOT_BUILT = {
    CPU_EXT: "minigan: the compiled CPU kernels (minigan.kernels._C) were not built: {}; "
             "minigan runs without them, with numpy code for the same kernels",
    CUDA_EXT: "minigan: the CUDA kernels (minigan.kernels._C_cuda) were not built: {}; "
              "minigan runs without them, but --backend cupy needs them",
}
# -fno-math-errno: sqrt without the errno branch, so the optimizer loops vectorize (2.2-2.6x
# faster Adam/RMSprop; results unchanged: errno is the only difference)
HOST_FLAGS = ["-O3", "-std=c++17", "-fvisibility=hidden", "-g0", "-fno-math-errno"]


def say(message: str) -> None:
    """pip shows a build's output with -v (``python -m minigan`` says the same at any time)."""
    print(message, file=sys.stderr, flush=True)


def cuda_mode() -> str:
    mode = os.environ.get("MINIGAN_BUILD_CUDA", "auto").strip().lower()
    if mode not in ("auto", "0", "1"):
        raise SystemExit(f"MINIGAN_BUILD_CUDA must be 0, 1 or auto, got {mode!r}")
    return mode


def find_nvcc() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and os.path.exists(os.path.join(home, "bin", "nvcc")):
        return os.path.join(home, "bin", "nvcc")
    return shutil.which("nvcc")


def cuda_home(nvcc: str) -> str:
    """The toolkit root: CUDA_HOME, else the folder above nvcc's, else /usr/local/cuda
    (nvcc may be a wrapper script on PATH)."""
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    for root in (home, os.path.dirname(os.path.dirname(os.path.realpath(nvcc))),
                 "/usr/local/cuda"):
        if root and os.path.exists(os.path.join(root, "include", "cuda_runtime.h")):
            return root
    raise RuntimeError(f"found nvcc at {nvcc} but no CUDA toolkit (include/cuda_runtime.h) "
                       "beside it; set CUDA_HOME")


def gencode_flags() -> list[str]:
    archs = [a.strip() for a in os.environ.get("MINIGAN_CUDA_ARCH", "80;90").split(";")
             if a.strip()]
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    return flags + [f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}"]


class BuildExt(build_ext):
    """build_ext that compiles .cu sources with nvcc and says what was built."""

    def build_extension(self, ext):
        try:
            if ext.name == CUDA_EXT:
                self._compile_cuda(ext)
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001 - an optional extension: say why and go on
            if ext.name == CUDA_EXT and cuda_mode() == "1":
                raise
            if ext.name == CPU_EXT:
                raise  # setuptools' optional=True handles it (and prints the compiler error)
            say(NOT_BUILT[ext.name].format(f"the build failed: {e}"))

    def _compile_cuda(self, ext) -> None:
        """nvcc compiles each .cu into an object the host linker adds to the module."""
        nvcc = find_nvcc()
        cu = [s for s in ext.sources if s.endswith(".cu")]
        ext.sources = [s for s in ext.sources if not s.endswith(".cu")]
        os.makedirs(self.build_temp, exist_ok=True)
        flags = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden",
                 "--expt-relaxed-constexpr", *gencode_flags(),
                 *(f"-I{d}" for d in ext.include_dirs)]

        def compile_one(src: str) -> str:
            obj = os.path.join(self.build_temp, src.replace(os.sep, "_") + ".o")
            deps = [src, *ext.depends]
            if self.force or not os.path.exists(obj) or \
                    os.path.getmtime(obj) < max(os.path.getmtime(d) for d in deps):
                say(f"minigan: nvcc {src}")
                subprocess.run([nvcc, *flags, "-c", src, "-o", obj], check=True)
            return obj

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            ext.extra_objects = list(pool.map(compile_one, cu))
        ext.depends = [*ext.depends, *ext.extra_objects]  # a recompiled .cu relinks the module

    def run(self):
        super().run()
        for ext in self.extensions:
            if os.path.exists(self.get_ext_fullpath(ext.name)):
                say(f"minigan: {ext.name} was built")
            elif ext.name == CPU_EXT:
                say(NOT_BUILT[CPU_EXT].format("the compiler failed (its error is above)"))


def cpu_extension(pybind11_include: str) -> Extension:
    return Extension(
        CPU_EXT,
        sources=["csrc/module.cpp", *sorted(glob.glob("csrc/cpu/*.cpp"))],
        depends=sorted(glob.glob("csrc/cpu/*.h") + glob.glob("kernels/include/minigan/*.h")),
        include_dirs=["csrc", "kernels/include", pybind11_include],
        extra_compile_args=HOST_FLAGS,
        extra_link_args=["-pthread"],
        language="c++",
        optional=True,
    )


def cuda_extension(pybind11_include: str) -> Extension | None:
    mode = cuda_mode()
    if mode == "0":
        say(NOT_BUILT[CUDA_EXT].format("MINIGAN_BUILD_CUDA=0"))
        return None
    nvcc = find_nvcc()
    if nvcc is None:
        if mode == "1":
            raise SystemExit("MINIGAN_BUILD_CUDA=1 but nvcc was not found (on PATH or in "
                             "CUDA_HOME/bin)")
        say(NOT_BUILT[CUDA_EXT].format("nvcc was not found (set CUDA_HOME or PATH)"))
        return None
    home = cuda_home(nvcc)
    lib = next((d for d in (os.path.join(home, "lib64"), os.path.join(home, "lib"))
                if os.path.exists(os.path.join(d, "libcudart_static.a"))), None)
    if lib is None:
        if mode == "1":
            raise SystemExit(f"MINIGAN_BUILD_CUDA=1 but {home} has no libcudart_static.a")
        say(NOT_BUILT[CUDA_EXT].format(f"{home} has no libcudart_static.a"))
        return None
    return Extension(
        CUDA_EXT,
        sources=sorted(glob.glob("csrc/cuda/*.cpp")) + sorted(glob.glob("csrc/cuda/*.cu")),
        depends=sorted(glob.glob("csrc/cuda/*.h") + glob.glob("csrc/cuda/*.cuh")
                       + glob.glob("kernels/include/minigan/*.h")),
        include_dirs=["csrc", "kernels/include", pybind11_include, os.path.join(home, "include")],
        extra_compile_args=HOST_FLAGS,
        library_dirs=[lib],
        # the static runtime: the module loads without libcudart.so; libcuda (the driver) is
        # opened at the first CUDA call, so import works on a machine without a GPU
        extra_link_args=["-pthread", f"-L{lib}", "-lcudart_static", "-ldl", "-lrt"],
        language="c++",
        optional=mode != "1",
    )


def extensions() -> list:
    if os.environ.get("MINIGAN_BUILD_EXTENSION", "1") == "0":
        say(NOT_BUILT[CPU_EXT].format("MINIGAN_BUILD_EXTENSION=0"))
        say(NOT_BUILT[CUDA_EXT].format("MINIGAN_BUILD_EXTENSION=0"))
        return []
    try:
        import pybind11
    except ImportError:  # a build without isolation on a machine without pybind11
        if cuda_mode() == "1":
            raise SystemExit("MINIGAN_BUILD_CUDA=1 but pybind11 is not installed in the build "
                             "environment") from None
        for name in NOT_BUILT:
            say(NOT_BUILT[name].format("pybind11 is not installed in the build environment"))
        return []
    include = pybind11.get_include()
    exts = []
    if os.environ.get("MINIGAN_BUILD_CPU", "1") != "0":  # =0: only the CUDA module (developers)
        exts.append(cpu_extension(include))
    else:
        say(NOT_BUILT[CPU_EXT].format("MINIGAN_BUILD_CPU=0"))
    if glob.glob("csrc/cuda/*.cu"):
        cuda = cuda_extension(include)
        if cuda is not None:
            exts.append(cuda)
    return exts


setup(
    packages=packages,
    package_dir={"minigan": "minigan", "minigan.kernels": "kernels"},
    package_data={"minigan.kernels": ["**/*.cu", "**/*.cuh", "include/minigan/*.h"],
                  "minigan.metrics": ["weights/*.safetensors"]},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
