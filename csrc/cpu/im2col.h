// Convolution data movement on the CPU: the column matrix of a batch and its adjoint.
#pragma once

#include <cstdint>

#include "minigan/conv.h"  // ConvGeometry: input (n, c, h, w), kernel (kh, kw), output (ho, wo)

namespace minigan {

// cols[(c*kh + i)*kw + j][(n*ho + oh)*wo + ow] = x[n][c][oh*sh + i*dh - ph][ow*sw + j*dw - pw]
// (zero outside the input).
template <typename T>
void im2col(const T* x, T* cols, const ConvGeometry& g);

// The adjoint of im2col: dx = sum over the windows of cols (dx is overwritten).
template <typename T>
void col2im(const T* cols, T* dx, const ConvGeometry& g);

}  // namespace minigan
