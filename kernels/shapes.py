"""Output-size arithmetic shared by every backend's kernels and by the argument checks."""


def conv_out_size(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def pool_out_size(size: int, k: int, stride: int, pad: int, dilation: int,
                  ceil_mode: bool) -> int:
    """torch's pooling_output_shape: a ceil-mode window must start inside input + left pad."""
    span = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out
