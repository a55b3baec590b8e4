"""CPU reference kernels on numpy arrays: convolution as im2col + one BLAS GEMM per group,
pooling through strided window views, normalization, softmax, optimizer updates."""
