// Normalization over all axes but one contiguous run: x viewed as (A, C, B), statistics per c
// over the A*B values x[a][c][b]. Batch norm is (N, C, H*W); instance, layer and group norm
// are (1, rows, values).
#pragma once

#include <cstdint>

namespace minigan {

// y = (x - mean) / sqrt(var + eps) with the biased variance; mean and var have C entries.
// Sums run in double (two passes: the mean, then the centred second moment).
template <typename T>
void normalize_forward(const T* x, T* y, T* mean, T* var, int64_t a, int64_t c, int64_t b,
                       double eps);

// dx = (g - mean(g) - y * mean(g * y)) / sqrt(var + eps), the gradient through y alone.
template <typename T>
void normalize_backward(const T* g, const T* y, const T* var, T* dx, int64_t a, int64_t c,
                        int64_t b, double eps);

// out = y * w[c] + b[c], the normalizations' affine map; w or b may be null (1 or 0).
template <typename T>
void channel_affine(const T* y, const T* w, const T* b, T* out, int64_t a, int64_t c,
                    int64_t b_len);

// Its gradients from g: gy = g * w[c], gw[c] = sum g * y, gb[c] = sum g, in one pass over g
// and y (sums in double). Any output may be null (not wanted); w null means 1.
template <typename T>
void channel_affine_backward(const T* g, const T* y, const T* w, T* gy, T* gw, T* gb,
                             int64_t a, int64_t c, int64_t b_len);

}  // namespace minigan
