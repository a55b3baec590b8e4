// minigan._C: the compiled CPU kernels, bound with pybind11. Optional: the numpy backend
// uses them when this module imports and its own numpy code otherwise.
//
// Every function takes C-contiguous numpy arrays of one float dtype and writes into an
// output array the caller allocated, so Python keeps ownership of all memory. The GIL is
// released while a kernel runs.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "cpu/im2col.h"
#include "cpu/normalize.h"
#include "cpu/parallel.h"

namespace py = pybind11;
using minigan::ConvGeometry;

namespace {

void require(bool ok, const std::string& op, const std::string& what) {
  if (!ok) throw py::value_error(op + ": " + what);
}

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");  // as Python prints a shape
}

// dtype equality, not identity: an unpickled or copied array can carry an equal dtype object
// that is not numpy's singleton.
bool same_dtype(const py::dtype& a, const py::dtype& b) {
  return a.is(b) || a.attr("__eq__")(b).cast<bool>();
}

void check_array(const std::string& op, const char* name, const py::array& a,
                 const py::dtype& dtype, py::ssize_t size, bool writeable) {
  require(same_dtype(a.dtype(), dtype), op,
          std::string(name) + " has dtype " + std::string(py::str(a.dtype())) + ", expected " +
              std::string(py::str(dtype)));
  require((a.flags() & py::array::c_style) != 0, op, std::string(name) + " must be C-contiguous");
  require(!writeable || a.writeable(), op, std::string(name) + " must be writeable");
  require(a.size() == size, op,
          std::string(name) + " has shape " + shape_of(a) + " (" + std::to_string(a.size()) +
              " elements), expected " + std::to_string(size) + " elements");
}

// numpy's float32 or float64 dtype when the array has one of them (native byte order); an
// error naming the op otherwise.
py::dtype float_dtype(const std::string& op, const char* name, const py::array& a) {
  const py::dtype dt = a.dtype();
  for (const py::dtype& f : {py::dtype::of<float>(), py::dtype::of<double>()}) {
    if (same_dtype(dt, f)) return f;
  }
  require(false, op,
          std::string(name) + " must be float32 or float64, got " + std::string(py::str(dt)));
  return dt;
}

template <typename T>
const T* in(const py::array& a) { return static_cast<const T*>(a.data()); }

template <typename T>
T* out(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// Calls kernel(T{}) with T the C type of dtype (float32 or float64). Each kernel takes its
// array pointers, then releases the GIL for the computation.
template <typename Kernel>
void run_typed(const py::dtype& dt, const Kernel& kernel) {
  if (dt.is(py::dtype::of<float>())) kernel(float{});
  else kernel(double{});
}

ConvGeometry geometry(const py::tuple& t) {
  require(py::len(t) == 14, "conv geometry", "expected 14 integers");
  int64_t v[14];
  for (int k = 0; k < 14; ++k) v[k] = t[k].cast<int64_t>();
  const ConvGeometry g{v[0], v[1], v[2], v[3], v[4],  v[5],  v[6],
                       v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  // Reads are bounds-checked against (h, w) whatever the rest says; these keep the index
  // arithmetic defined (no division by a zero stride, no negative sizes).
  require(g.n >= 0 && g.c >= 0 && g.h >= 0 && g.w >= 0 && g.ho >= 0 && g.wo >= 0,
          "conv geometry", "sizes must be non-negative");
  require(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1,
          "conv geometry", "kernel, stride and dilation must be >= 1");
  require(g.ph >= 0 && g.pw >= 0, "conv geometry", "padding must be non-negative");
  return g;
}

void im2col(const py::array& x, py::array cols, const py::tuple& geom) {
  const ConvGeometry g = geometry(geom);
  const py::dtype dt = float_dtype("im2col", "x", x);
  check_array("im2col", "x", x, dt, g.n * g.c * g.h * g.w, false);
  check_array("im2col", "cols", cols, dt, g.c * g.kh * g.kw * g.n * g.ho * g.wo, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T* src = in<T>(x);
    T* dst = out<T>(cols);
    py::gil_scoped_release release;
    minigan::im2col<T>(src, dst, g);
  });
}

void col2im(const py::array& cols, py::array dx, const py::tuple& geom) {
  const ConvGeometry g = geometry(geom);
  const py::dtype dt = float_dtype("col2im", "cols", cols);
  check_array("col2im", "cols", cols, dt, g.c * g.kh * g.kw * g.n * g.ho * g.wo, false);
  check_array("col2im", "dx", dx, dt, g.n * g.c * g.h * g.w, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T* src = in<T>(cols);
    T* dst = out<T>(dx);
    py::gil_scoped_release release;
    minigan::col2im<T>(src, dst, g);
  });
}

struct Rows {
  int64_t a, c, b;
};

Rows rows_of(const std::string& op, const py::tuple& t) {
  require(py::len(t) == 3, op, "shape must be (A, C, B)");
  Rows r{t[0].cast<int64_t>(), t[1].cast<int64_t>(), t[2].cast<int64_t>()};
  require(r.a >= 0 && r.c >= 0 && r.b >= 0, op, "shape must be non-negative");
  return r;
}

void normalize_forward(const py::array& x, py::array y, py::array mean, py::array var,
                       const py::tuple& shape, double eps) {
  const std::string op = "normalize_forward";
  const Rows r = rows_of(op, shape);
  const py::dtype dt = float_dtype(op, "x", x);
  check_array(op, "x", x, dt, r.a * r.c * r.b, false);
  check_array(op, "y", y, dt, r.a * r.c * r.b, true);
  check_array(op, "mean", mean, dt, r.c, true);
  check_array(op, "var", var, dt, r.c, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T* src = in<T>(x);
    T *py_out = out<T>(y), *pm = out<T>(mean), *pv = out<T>(var);
    py::gil_scoped_release release;
    minigan::normalize_forward<T>(src, py_out, pm, pv, r.a, r.c, r.b, eps);
  });
}

void normalize_backward(const py::array& g, const py::array& y, const py::array& var,
                        py::array dx, const py::tuple& shape, double eps) {
  const std::string op = "normalize_backward";
  const Rows r = rows_of(op, shape);
  const py::dtype dt = float_dtype(op, "g", g);
  check_array(op, "g", g, dt, r.a * r.c * r.b, false);
  check_array(op, "y", y, dt, r.a * r.c * r.b, false);
  check_array(op, "var", var, dt, r.c, false);
  check_array(op, "dx", dx, dt, r.a * r.c * r.b, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T *pg = in<T>(g), *py_in = in<T>(y), *pv = in<T>(var);
    T* pdx = out<T>(dx);
    py::gil_scoped_release release;
    minigan::normalize_backward<T>(pg, py_in, pv, pdx, r.a, r.c, r.b, eps);
  });
}

// An optional array: null when None, else checked like the others. It must already be a
// numpy array (a converted copy would die before the kernel runs).
py::array optional_array(const std::string& op, const char* name, const py::object& o) {
  require(py::isinstance<py::array>(o), op, std::string(name) + " must be a numpy array or None");
  return o.cast<py::array>();
}

template <typename T>
const T* optional_in(const std::string& op, const char* name, const py::object& o,
                     const py::dtype& dt, int64_t size) {
  if (o.is_none()) return nullptr;
  const py::array a = optional_array(op, name, o);
  check_array(op, name, a, dt, size, false);
  return in<T>(a);
}

template <typename T>
T* optional_out(const std::string& op, const char* name, const py::object& o,
                const py::dtype& dt, int64_t size) {
  if (o.is_none()) return nullptr;
  py::array a = optional_array(op, name, o);
  check_array(op, name, a, dt, size, true);
  return out<T>(a);
}

void channel_affine(const py::array& y, const py::object& w, const py::object& b, py::array dst,
                    const py::tuple& shape) {
  const std::string op = "channel_affine";
  const Rows r = rows_of(op, shape);
  const py::dtype dt = float_dtype(op, "y", y);
  check_array(op, "y", y, dt, r.a * r.c * r.b, false);
  check_array(op, "out", dst, dt, r.a * r.c * r.b, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T *py_in = in<T>(y), *pw = optional_in<T>(op, "weight", w, dt, r.c),
            *pb = optional_in<T>(op, "bias", b, dt, r.c);
    T* po = out<T>(dst);
    py::gil_scoped_release release;
    minigan::channel_affine<T>(py_in, pw, pb, po, r.a, r.c, r.b);
  });
}

void channel_affine_backward(const py::array& g, const py::array& y, const py::object& w,
                             const py::object& gy, const py::object& gw, const py::object& gb,
                             const py::tuple& shape) {
  const std::string op = "channel_affine_backward";
  const Rows r = rows_of(op, shape);
  const py::dtype dt = float_dtype(op, "g", g);
  check_array(op, "g", g, dt, r.a * r.c * r.b, false);
  check_array(op, "y", y, dt, r.a * r.c * r.b, false);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T *pg = in<T>(g), *py_in = in<T>(y), *pw = optional_in<T>(op, "weight", w, dt, r.c);
    T* pgy = optional_out<T>(op, "gy", gy, dt, r.a * r.c * r.b);
    T* pgw = optional_out<T>(op, "gw", gw, dt, r.c);
    T* pgb = optional_out<T>(op, "gb", gb, dt, r.c);
    py::gil_scoped_release release;
    minigan::channel_affine_backward<T>(pg, py_in, pw, pgy, pgw, pgb, r.a, r.c, r.b);
  });
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "minigan's compiled CPU kernels (optional; see csrc/README.md)";
  m.def("im2col", &im2col, py::arg("x"), py::arg("cols"), py::arg("geometry"),
        "Write the column matrix of x (n, c, h, w) into cols (c*kh*kw, n*ho*wo). geometry is "
        "(n, c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw).");
  m.def("col2im", &col2im, py::arg("cols"), py::arg("dx"), py::arg("geometry"),
        "Overwrite dx (n, c, h, w) with the adjoint of im2col applied to cols.");
  m.def("normalize_forward", &normalize_forward, py::arg("x"), py::arg("y"), py::arg("mean"),
        py::arg("var"), py::arg("shape"), py::arg("eps"),
        "x viewed as (A, C, B): write y = (x - mean) / sqrt(var + eps) and the per-c mean and "
        "biased var.");
  m.def("normalize_backward", &normalize_backward, py::arg("g"), py::arg("y"), py::arg("var"),
        py::arg("dx"), py::arg("shape"), py::arg("eps"),
        "Write dx = (g - mean(g) - y * mean(g * y)) / sqrt(var + eps), per c of (A, C, B).");
  m.def("channel_affine", &channel_affine, py::arg("y"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("shape"),
        "y viewed as (A, C, B): write out = y * weight[c] + bias[c] (either may be None).");
  m.def("channel_affine_backward", &channel_affine_backward, py::arg("g"), py::arg("y"),
        py::arg("weight"), py::arg("gy"), py::arg("gw"), py::arg("gb"), py::arg("shape"),
        "Write gy = g * weight[c], gw[c] = sum(g * y), gb[c] = sum(g); None skips an output.");
  m.def("get_num_threads", [] { return minigan::max_threads(); },
        "Threads a kernel splits its work over (default 1: see csrc/cpu/parallel.h).");
  m.def("set_num_threads", [](int64_t n) {
        require(n >= 1, "set_num_threads", "n must be >= 1, got " + std::to_string(n));
        minigan::max_threads() = n;
      }, py::arg("n"));
}
