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
  return s + ")";
}

void check_array(const std::string& op, const char* name, const py::array& a,
                 const py::dtype& dtype, py::ssize_t size, bool writeable) {
  require(a.dtype().is(dtype), op,
          std::string(name) + " has dtype " + std::string(py::str(a.dtype())) + ", expected " +
              std::string(py::str(dtype)));
  require((a.flags() & py::array::c_style) != 0, op, std::string(name) + " must be C-contiguous");
  require(!writeable || a.writeable(), op, std::string(name) + " must be writeable");
  require(a.size() == size, op,
          std::string(name) + " has shape " + shape_of(a) + " (" + std::to_string(a.size()) +
              " elements), expected " + std::to_string(size) + " elements");
}

ConvGeometry geometry(const py::tuple& t) {
  require(py::len(t) == 14, "conv geometry", "expected 14 integers");
  int64_t v[14];
  for (int k = 0; k < 14; ++k) v[k] = t[k].cast<int64_t>();
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
}

template <typename T>
void dispatch_im2col(const py::array& x, py::array& cols, const ConvGeometry& g) {
  const T* src = static_cast<const T*>(x.data());
  T* dst = static_cast<T*>(cols.mutable_data());
  py::gil_scoped_release release;
  minigan::im2col<T>(src, dst, g);
}

template <typename T>
void dispatch_col2im(const py::array& cols, py::array& dx, const ConvGeometry& g) {
  const T* src = static_cast<const T*>(cols.data());
  T* dst = static_cast<T*>(dx.mutable_data());
  py::gil_scoped_release release;
  minigan::col2im<T>(src, dst, g);
}

void im2col(const py::array& x, py::array cols, const py::tuple& geom) {
  const ConvGeometry g = geometry(geom);
  const py::dtype dt = x.dtype();
  require(dt.is(py::dtype::of<float>()) || dt.is(py::dtype::of<double>()), "im2col",
          "x must be float32 or float64");
  check_array("im2col", "x", x, dt, g.n * g.c * g.h * g.w, false);
  check_array("im2col", "cols", cols, dt, g.c * g.kh * g.kw * g.n * g.ho * g.wo, true);
  if (dt.is(py::dtype::of<float>())) dispatch_im2col<float>(x, cols, g);
  else dispatch_im2col<double>(x, cols, g);
}

void col2im(const py::array& cols, py::array dx, const py::tuple& geom) {
  const ConvGeometry g = geometry(geom);
  const py::dtype dt = cols.dtype();
  require(dt.is(py::dtype::of<float>()) || dt.is(py::dtype::of<double>()), "col2im",
          "cols must be float32 or float64");
  check_array("col2im", "cols", cols, dt, g.c * g.kh * g.kw * g.n * g.ho * g.wo, false);
  check_array("col2im", "dx", dx, dt, g.n * g.c * g.h * g.w, true);
  if (dt.is(py::dtype::of<float>())) dispatch_col2im<float>(cols, dx, g);
  else dispatch_col2im<double>(cols, dx, g);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "minigan's compiled CPU kernels (optional; see csrc/README.md)";
  m.def("im2col", &im2col, py::arg("x"), py::arg("cols"), py::arg("geometry"),
        "Write the column matrix of x (n, c, h, w) into cols (c*kh*kw, n*ho*wo). geometry is "
        "(n, c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw).");
  m.def("col2im", &col2im, py::arg("cols"), py::arg("dx"), py::arg("geometry"),
        "Overwrite dx (n, c, h, w) with the adjoint of im2col applied to cols.");
  m.def("get_num_threads", [] { return minigan::max_threads(); },
        "Threads a kernel splits its work over (default: the CPUs this process may use).");
  m.def("set_num_threads", [](int64_t n) {
        require(n >= 1, "set_num_threads", "n must be >= 1, got " + std::to_string(n));
        minigan::max_threads() = n;
      }, py::arg("n"));
}
