"""The CuPy backend's kernels, one module per family. ``KERNELS`` is their union: the backend's
kernel table. It is importable without cupy (for the static checks); the backend reports a
missing cupy, GPU or CUDA extension when it is created.

- cupy's own array functions for the plain maps, reductions and layout; cuBLAS through
  ``cupy.matmul`` for every GEMM (convolutions included: im2col / col2im around it, no cuDNN);
- ``cupy.ElementwiseKernel`` where minigan has its own formula (elementwise.py);
- runtime-compiled CUDA (``*.cu`` here, NVRTC, sharing kernels/include/minigan) for pooling,
  the scatter-add along an axis, one-hot and the random numbers;
- the CUDA extension (``minigan.kernels._C_cuda``) for the fused kernels: im2col / col2im,
  normalization, the channel affine map, running statistics, the optimizers, the penalties.
"""

from minigan.kernels.cupy import conv, elementwise, layout, norm, optim, pool, random, reduce
from minigan.kernels.cupy._common import IMPORT_ERROR, cupy  # noqa: F401

MODULES = (elementwise, reduce, layout, conv, norm, pool, optim)

KERNELS = {}
for _module in MODULES:
    KERNELS.update(_module.KERNELS)

# Every runtime-compiled source and the template instantiations its kernels are looked up by
# (the nvcc compile test instantiates the same ones).
SOURCES = {layout.SOURCE: layout.NAME_EXPRESSIONS, pool.SOURCE: pool.NAME_EXPRESSIONS,
           random.SOURCE: random.NAME_EXPRESSIONS}
