// 2-D pooling and the flat-H*W gather/scatter, for the CuPy backend (kernels/cupy/pool.py).
// One thread per output element (per input element for avg_pool2d_backward), grid-stride,
// 64-bit offsets; the window geometry comes from runtime ints, so one instantiation per dtype
// serves every kernel size, stride, padding, dilation and flag. The rules are torch's (see
// kernels/triton/pool.py, which these mirror lane for lane).
#include "minigan/hd.h"

namespace {

__device__ __forceinline__ float neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double neg_inf(double) {
  return __longlong_as_double(0xfff0000000000000ULL);
}

// torch's CPU pool_size of output (oh, ow), or the override when it is non-zero.
__device__ __forceinline__ long long avg_divisor(long long oh, long long ow, long long H,
                                                 long long W, long long KH, long long KW,
                                                 long long sh, long long sw, long long ph,
                                                 long long pw, int count_pad,
                                                 long long divisor_override) {
  if (divisor_override != 0) return divisor_override;
  const long long hs = oh * sh - ph, ws = ow * sw - pw;
  const long long he = hs + KH < H + ph ? hs + KH : H + ph;
  const long long we = ws + KW < W + pw ? ws + KW : W + pw;
  if (count_pad) return (he - hs) * (we - ws);
  const long long h0 = hs > 0 ? hs : 0, w0 = ws > 0 ? ws : 0;
  const long long h1 = he < H ? he : H, w1 = we < W ? we : W;
  return (h1 - h0) * (w1 - w0);
}

}  // namespace

// out (planes, Ho, Wo): the window sum (zero outside the input) over the divisor.
template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ out,
                                   long long total, long long H, long long W, long long Ho,
                                   long long Wo, long long KH, long long KW, long long sh,
                                   long long sw, long long ph, long long pw, int count_pad,
                                   long long divisor_override) {
  MG_GRID_LOOP(i, total) {
    const long long ow = i % Wo, t = i / Wo;
    const long long oh = t % Ho, plane = t / Ho;
    const T* base = x + plane * H * W;
    const long long hs = oh * sh - ph, ws = ow * sw - pw;
    T acc = T(0);
    for (long long a = 0; a < KH; ++a) {
      const long long ih = hs + a;
      if (ih < 0 || ih >= H) continue;
      for (long long b = 0; b < KW; ++b) {
        const long long iw = ws + b;
        if (iw < 0 || iw >= W) continue;
        acc += base[ih * W + iw];
      }
    }
    const long long div = avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_pad,
                                      divisor_override);
    out[i] = acc / T(div);
  }
}

// dx (planes, H, W): a gather, no atomics: each input pixel adds g / divisor of the at most
// NH x NW windows (NH = ceil(KH / sh)) that cover it.
template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ g, T* __restrict__ dx,
                                    long long total, long long H, long long W, long long Ho,
                                    long long Wo, long long KH, long long KW, long long sh,
                                    long long sw, long long ph, long long pw, int count_pad,
                                    long long divisor_override, long long NH, long long NW) {
  MG_GRID_LOOP(i, total) {
    const long long iw = i % W, t = i / W;
    const long long ih = t % H, plane = t / H;
    const T* gbase = g + plane * Ho * Wo;
    // the last window in each axis that starts at or before this pixel
    const long long oh_hi = (ih + ph) / sh, ow_hi = (iw + pw) / sw;
    T acc = T(0);
    for (long long a = 0; a < NH; ++a) {
      const long long oh = oh_hi - a;
      if (oh < 0 || oh >= Ho || oh * sh - ph + KH <= ih) continue;
      for (long long b = 0; b < NW; ++b) {
        const long long ow = ow_hi - b;
        if (ow < 0 || ow >= Wo || ow * sw - pw + KW <= iw) continue;
        const long long div = avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_pad,
                                          divisor_override);
        acc += gbase[oh * Wo + ow] / T(div);
      }
    }
    dx[i] = acc;
  }
}

// values and flat H*W indices of the window maxima, the window walked row-major: a position
// replaces the running maximum when it is greater, NaN (the last NaN wins, as torch), or the
// first in-bounds one (an all -inf window keeps its first position); a window with no
// in-bounds position keeps -inf and index -1.
template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ out,
                                   long long* __restrict__ indices, long long total,
                                   long long H, long long W, long long Ho, long long Wo,
                                   long long KH, long long KW, long long sh, long long sw,
                                   long long ph, long long pw, long long dh, long long dw) {
  MG_GRID_LOOP(i, total) {
    const long long ow = i % Wo, t = i / Wo;
    const long long oh = t % Ho, plane = t / Ho;
    const T* base = x + plane * H * W;
    const long long hs = oh * sh - ph, ws = ow * sw - pw;
    T best = neg_inf(T(0));
    long long best_index = -1;
    for (long long a = 0; a < KH; ++a) {
      const long long ih = hs + a * dh;
      if (ih < 0 || ih >= H) continue;
      for (long long b = 0; b < KW; ++b) {
        const long long iw = ws + b * dw;
        if (iw < 0 || iw >= W) continue;
        const long long pos = ih * W + iw;
        const T v = base[pos];
        if (v > best || v != v || best_index < 0) {
          best = v;
          best_index = pos;
        }
      }
    }
    out[i] = best;
    indices[i] = best_index;
  }
}

// out[i] = x[plane][index[i]] with plane = i / L; 0 where the index is -1 (or outside H*W).
template <typename T>
__global__ void take_hw(const T* __restrict__ x, const long long* __restrict__ index,
                        T* __restrict__ out, long long total, long long L, long long HW) {
  MG_GRID_LOOP(i, total) {
    const long long k = index[i];
    out[i] = (k >= 0 && k < HW) ? x[(i / L) * HW + k] : T(0);
  }
}

// The adjoint of take_hw: out[plane][index[i]] += g[i] (atomically); index -1 adds nothing.
template <typename T>
__global__ void scatter_add_hw(const T* __restrict__ g, const long long* __restrict__ index,
                               T* __restrict__ out, long long total, long long L,
                               long long HW) {
  MG_GRID_LOOP(i, total) {
    const long long k = index[i];
    if (k >= 0 && k < HW) atomicAdd(out + (i / L) * HW + k, g[i]);
  }
}
