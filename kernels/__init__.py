"""minigan's kernels, one folder per backend. They take arrays and shapes and return arrays;
they know nothing of Tensor or autograd."""
