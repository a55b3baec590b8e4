"""Package layout: minigan/ plus kernels/, which installs as minigan.kernels.

The compiled csrc/ extension (fused CPU/CUDA kernels) will be declared here as an opt-in
ext_module; the package works without it.
"""

from setuptools import find_packages, setup

packages = ["minigan", *(f"minigan.{p}" for p in find_packages("minigan"))]
packages += ["minigan.kernels", *(f"minigan.kernels.{p}" for p in find_packages("kernels"))]

setup(
    packages=packages,
    package_dir={"minigan": "minigan", "minigan.kernels": "kernels"},
    package_data={"minigan.kernels": ["**/*.cu", "**/*.cuh"]},
)
