// minigan.kernels._C_cuda: the CUDA kernels, bound with pybind11 (host compiler; the kernels and
// their launchers are in the .cu files beside it, declared in api.h).
//
// Every array argument is a device pointer as a Python int (0 or None = no array), so CuPy
// arrays (a.data.ptr) and torch CUDA tensors (t.data_ptr()) both work; arrays are
// C-contiguous with the element type `dtype` ("float32" or "float64", the same for every float
// array of a call). `stream` is a cudaStream_t as an int (0 = the legacy default stream): each
// call validates its arguments here (ValueError naming the op and the argument), then launches
// asynchronously on that stream of the current device with the GIL released and raises
// RuntimeError("<op>: <CUDA error>") when the runtime reports an error. Import never touches
// the driver: the CUDA runtime is linked statically and opens libcuda at the first call.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/api.h"

namespace py = pybind11;
using minigan::ConvGeometry;
using minigan::NormLayout;
using minigan::cuda::Dtype;
using minigan::cuda::Ptr;
using minigan::cuda::Stream;

namespace {

void require(bool ok, const std::string& op, const std::string& what) {
  if (!ok) throw py::value_error(op + ": " + what);
}

std::string type_name(const py::handle& o) {
  return py::str(py::type::handle_of(o).attr("__name__"));
}

// A device pointer or stream: a non-negative int, or None for 0.
uint64_t address(const std::string& op, const std::string& name, const py::handle& o) {
  if (o.is_none()) return 0;
  require(py::isinstance<py::int_>(o) && !py::isinstance<py::bool_>(o), op,
          name + " must be a device pointer as an int (or 0/None), got " + type_name(o));
  const unsigned long long v = PyLong_AsUnsignedLongLong(o.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    require(false, op, name + " must be a non-negative int below 2**64, got " +
                           std::string(py::repr(o)));
  }
  return v;
}

Ptr pointer(const std::string& op, const std::string& name, const py::handle& o, bool required) {
  const Ptr p = static_cast<Ptr>(address(op, name, o));
  require(p != 0 || !required, op, name + " is required (got a null pointer)");
  return p;
}

Stream stream_of(const std::string& op, const py::handle& o) {
  return static_cast<Stream>(address(op, "stream", o));
}

Dtype dtype_of(const std::string& op, const py::handle& o) {
  const std::string s = py::str(o);
  if (s == "float32") return Dtype::f32;
  if (s == "float64") return Dtype::f64;
  require(false, op, "dtype must be 'float32' or 'float64', got " + std::string(py::repr(o)));
  return Dtype::f32;
}

int64_t integer(const std::string& op, const std::string& name, const py::handle& o) {
  require(py::isinstance<py::int_>(o) && !py::isinstance<py::bool_>(o), op,
          name + " must be an int, got " + type_name(o));
  return o.cast<int64_t>();
}

int64_t size_arg(const std::string& op, const std::string& name, const py::handle& o) {
  const int64_t v = integer(op, name, o);
  require(v >= 0, op, name + " must be non-negative, got " + std::to_string(v));
  return v;
}

std::vector<int64_t> ints(const std::string& op, const std::string& name, const py::handle& o,
                          size_t n) {
  require(py::isinstance<py::sequence>(o) && !py::isinstance<py::str>(o), op,
          name + " must be a tuple of " + std::to_string(n) + " ints, got " + type_name(o));
  const py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  require(s.size() == n, op,
          name + " must have " + std::to_string(n) + " entries, got " + std::to_string(s.size()));
  std::vector<int64_t> v;
  for (size_t i = 0; i < n; ++i) v.push_back(integer(op, name + "[" + std::to_string(i) + "]", s[i]));
  return v;
}

int act_arg(const std::string& op, int act) {
  require(act >= 0 && act <= 4, op,
          "act must be 0 (none), 1 (relu), 2 (leaky_relu), 3 (tanh) or 4 (sigmoid), got " +
              std::to_string(act));
  return act;
}

ConvGeometry geometry(const std::string& op, const py::handle& o) {
  const std::vector<int64_t> v = ints(op, "geometry", o, 14);
  const ConvGeometry g{v[0], v[1], v[2], v[3], v[4],  v[5],  v[6],
                       v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  require(g.n >= 0 && g.c >= 0 && g.h >= 0 && g.w >= 0 && g.ho >= 0 && g.wo >= 0, op,
          "geometry: sizes (n, c, h, w, ho, wo) must be non-negative");
  require(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1, op,
          "geometry: kernel, stride and dilation must be >= 1");
  require(g.ph >= 0 && g.pw >= 0, op, "geometry: padding must be non-negative");
  return g;
}

NormLayout layout_of(const std::string& op, const py::handle& o) {
  const std::vector<int64_t> v = ints(op, "layout", o, 6);
  const NormLayout l{v[0], v[1], v[2], v[3], v[4], v[5]};
  require(l.a >= 0 && l.s >= 0 && l.b >= 0, op, "layout: (a, s, b) must be non-negative");
  require(l.g >= 1 && l.cg >= 1 && l.hw >= 1, op, "layout: (g, cg, hw) must be >= 1");
  require(l.b == l.cg * l.hw, op,
          "layout: b must equal cg * hw (each group is cg channel runs of hw values), got b=" +
              std::to_string(l.b) + ", cg=" + std::to_string(l.cg) + ", hw=" +
              std::to_string(l.hw));
  require(l.s == 0 || l.a * l.b > 0, op, "layout: the statistics groups are empty (a*b == 0)");
  return l;
}

std::vector<int64_t> shape3(const std::string& op, const py::handle& o) {
  std::vector<int64_t> v = ints(op, "shape3", o, 3);
  require(v[0] >= 0 && v[1] >= 0 && v[2] >= 0, op, "shape3 (A, C, B) must be non-negative");
  return v;
}

// A list of pointers with one entry per tensor; optional lists may also be empty (all 0).
std::vector<Ptr> pointer_list(const std::string& op, const std::string& name,
                              const py::handle& o, const std::vector<int64_t>& sizes,
                              bool required, bool may_be_empty) {
  require(py::isinstance<py::sequence>(o) && !py::isinstance<py::str>(o), op,
          name + " must be a list of device pointers, got " + type_name(o));
  const py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  std::vector<Ptr> v;
  if (s.size() == 0 && may_be_empty && !required) return v;
  require(s.size() == sizes.size(), op,
          name + " has " + std::to_string(s.size()) + " entries, sizes has " +
              std::to_string(sizes.size()));
  for (size_t i = 0; i < sizes.size(); ++i)
    v.push_back(pointer(op, name + "[" + std::to_string(i) + "]", s[i],
                        required && sizes[i] > 0));
  return v;
}

std::vector<int64_t> sizes_of(const std::string& op, const py::handle& o) {
  require(py::isinstance<py::sequence>(o) && !py::isinstance<py::str>(o), op,
          "sizes must be a list of ints, got " + type_name(o));
  const py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  std::vector<int64_t> v;
  for (size_t i = 0; i < s.size(); ++i)
    v.push_back(size_arg(op, "sizes[" + std::to_string(i) + "]", s[i]));
  return v;
}

std::string version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

py::dict details() {
  const minigan::cuda::Details d = minigan::cuda::details();
  py::dict out;
  out["built_archs"] = d.archs;
  out["cuda_runtime"] = version(d.runtime_version) + " (linked statically)";
  out["driver"] = d.driver_version ? py::object(py::str(version(d.driver_version)))
                                   : py::object(py::none());
  out["device_count"] = d.device_count;
  out["devices"] = d.devices;
  out["error"] = d.driver_error;
  return out;
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "minigan's CUDA kernels on raw device pointers (optional; see csrc/README.md)";

  m.def("device_count", &minigan::cuda::device_count,
        "CUDA devices visible here; 0 without a driver or a device (never raises).");
  m.def("details", &details,
        "A dict: built_archs, cuda_runtime, driver (None without one), device_count, devices, "
        "error (why there is no usable device; empty when there is one).");

  m.def("im2col", [](py::object x, py::object cols, py::object geometry_, py::object dtype,
                     py::object stream) {
        const std::string op = "im2col";
        const ConvGeometry g = geometry(op, geometry_);
        const bool any = g.col_rows() * g.col_cols() > 0;
        const Ptr px = pointer(op, "x", x, any && g.n * g.c * g.h * g.w > 0);
        const Ptr pc = pointer(op, "cols", cols, any);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::im2col(px, pc, g, dt, st);
      }, py::arg("x"), py::arg("cols"), py::arg("geometry"), py::arg("dtype"),
      py::arg("stream") = 0,
      "Write x's column matrix (c*kh*kw, n*ho*wo) into cols. geometry = (n, c, h, w, kh, kw, "
      "ho, wo, sh, sw, ph, pw, dh, dw).");

  m.def("col2im", [](py::object cols, py::object dx, py::object geometry_, py::object dtype,
                     py::object stream) {
        const std::string op = "col2im";
        const ConvGeometry g = geometry(op, geometry_);
        const bool any = g.n * g.c * g.h * g.w > 0;
        const Ptr pc = pointer(op, "cols", cols, any && g.col_rows() * g.col_cols() > 0);
        const Ptr pd = pointer(op, "dx", dx, any);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::col2im(pc, pd, g, dt, st);
      }, py::arg("cols"), py::arg("dx"), py::arg("geometry"), py::arg("dtype"),
      py::arg("stream") = 0,
      "Overwrite dx (n, c, h, w) with the adjoint of im2col applied to cols (a gather per "
      "element: no atomics, deterministic).");

  m.def("norm_forward", [](py::object x, py::object out, py::object y, py::object mean,
                           py::object var, py::object weight, py::object bias,
                           py::object layout, double eps, int act, double slope,
                           py::object dtype, py::object stream) {
        const std::string op = "norm_forward";
        const NormLayout l = layout_of(op, layout);
        act_arg(op, act);
        const bool any = l.s > 0;
        const Ptr px = pointer(op, "x", x, any), py_ = pointer(op, "y", y, any);
        const Ptr pm = pointer(op, "mean", mean, any), pv = pointer(op, "var", var, any);
        const Ptr po = pointer(op, "out", out, false);
        const Ptr pw = pointer(op, "weight", weight, false);
        const Ptr pb = pointer(op, "bias", bias, false);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::norm_forward(px, po, py_, pm, pv, pw, pb, l, eps, act, slope, dt, st);
      }, py::arg("x"), py::arg("out"), py::arg("y"), py::arg("mean"), py::arg("var"),
      py::arg("weight"), py::arg("bias"), py::arg("layout"), py::arg("eps"), py::arg("act"),
      py::arg("slope"), py::arg("dtype"), py::arg("stream") = 0,
      "x viewed as (a, s, b), layout = (a, s, b, g, cg, hw) (minigan/norm.h): per group s the "
      "mean and biased var (written to mean, var: s entries), y = (x - mean) * rstd, and "
      "out = act(y * weight[p] + bias[p]) unless out is 0; weight, bias may be 0.");

  m.def("norm_backward", [](py::object g, py::object out, py::object y, py::object var,
                            py::object weight, py::object dx, py::object dweight,
                            py::object dbias, py::object layout, double eps, int act,
                            double slope, py::object dtype, py::object stream) {
        const std::string op = "norm_backward";
        const NormLayout l = layout_of(op, layout);
        act_arg(op, act);
        require(act != 2 || (slope >= 0 && slope <= 1), op,
                "leaky_relu's gradient from its output needs 0 <= slope <= 1, got " +
                    std::to_string(slope));
        const Ptr pdx = pointer(op, "dx", dx, false), pdw = pointer(op, "dweight", dweight, false);
        const Ptr pdb = pointer(op, "dbias", dbias, false);
        const bool any = l.s > 0 && (pdx || pdw || pdb);
        const Ptr pg = pointer(op, "g", g, any), py_ = pointer(op, "y", y, any);
        const Ptr pv = pointer(op, "var", var, any && pdx);
        const Ptr po = pointer(op, "out", out, any && act != 0);
        const Ptr pw = pointer(op, "weight", weight, false);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::norm_backward(pg, po, py_, pv, pw, pdx, pdw, pdb, l, eps, act, slope, dt,
                                     st);
      }, py::arg("g"), py::arg("out"), py::arg("y"), py::arg("var"), py::arg("weight"),
      py::arg("dx"), py::arg("dweight"), py::arg("dbias"), py::arg("layout"), py::arg("eps"),
      py::arg("act"), py::arg("slope"), py::arg("dtype"), py::arg("stream") = 0,
      "From g, the gradient of norm_forward's out (of y when there was no affine map): dz = "
      "act'(out) g, dy = dz * weight[p]; dx = rstd (dy - mean(dy) - y mean(dy y)) per group, "
      "dweight[c] = sum dz y, dbias[c] = sum dz (deterministic). A 0 output is not computed; "
      "out may be 0 only when act is 0.");

  m.def("channel_affine", [](py::object y, py::object weight, py::object bias, py::object out,
                             py::object shape, int act, double slope, py::object dtype,
                             py::object stream) {
        const std::string op = "channel_affine";
        const std::vector<int64_t> s = shape3(op, shape);
        act_arg(op, act);
        const bool any = s[0] * s[1] * s[2] > 0;
        const Ptr py_ = pointer(op, "y", y, any), po = pointer(op, "out", out, any);
        const Ptr pw = pointer(op, "weight", weight, false);
        const Ptr pb = pointer(op, "bias", bias, false);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::channel_affine(py_, pw, pb, po, s[0], s[1], s[2], act, slope, dt, st);
      }, py::arg("y"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("shape3"),
      py::arg("act"), py::arg("slope"), py::arg("dtype"), py::arg("stream") = 0,
      "y viewed as (A, C, B): out = act(y * weight[c] + bias[c]); weight, bias may be 0.");

  m.def("channel_affine_backward", [](py::object g, py::object y, py::object weight,
                                      py::object gy, py::object gw, py::object gb,
                                      py::object shape, py::object dtype, py::object stream) {
        const std::string op = "channel_affine_backward";
        const std::vector<int64_t> s = shape3(op, shape);
        const Ptr pgy = pointer(op, "gy", gy, false), pgw = pointer(op, "gw", gw, false);
        const Ptr pgb = pointer(op, "gb", gb, false);
        const bool any = s[0] * s[1] * s[2] > 0;
        const Ptr pg = pointer(op, "g", g, any && (pgy || pgw || pgb));
        const Ptr py_ = pointer(op, "y", y, any && pgw);
        const Ptr pw = pointer(op, "weight", weight, false);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::channel_affine_backward(pg, py_, pw, pgy, pgw, pgb, s[0], s[1], s[2], dt,
                                               st);
      }, py::arg("g"), py::arg("y"), py::arg("weight"), py::arg("gy"), py::arg("gw"),
      py::arg("gb"), py::arg("shape3"), py::arg("dtype"), py::arg("stream") = 0,
      "gy = g * weight[c], gw[c] = sum g y, gb[c] = sum g over (A, C, B) (deterministic); a 0 "
      "output is not computed.");

  m.def("adam_step", [](py::object params, py::object grads, py::object exp_avgs,
                        py::object exp_avg_sqs, py::object max_exp_avg_sqs, py::object sizes,
                        py::object steps, double lr, double beta1, double beta2, double eps,
                        double weight_decay, bool amsgrad, bool maximize,
                        bool decoupled_weight_decay, py::object dtype, py::object stream) {
        const std::string op = "adam_step";
        const std::vector<int64_t> n = sizes_of(op, sizes);
        const auto p = pointer_list(op, "params", params, n, true, false);
        const auto g = pointer_list(op, "grads", grads, n, true, false);
        const auto m1 = pointer_list(op, "exp_avgs", exp_avgs, n, true, false);
        const auto m2 = pointer_list(op, "exp_avg_sqs", exp_avg_sqs, n, true, false);
        const auto mx = pointer_list(op, "max_exp_avg_sqs", max_exp_avg_sqs, n, amsgrad, true);
        require(py::isinstance<py::sequence>(steps), op, "steps must be a list of ints");
        const py::sequence ss = py::reinterpret_borrow<py::sequence>(steps);
        require(ss.size() == n.size(), op,
                "steps has " + std::to_string(ss.size()) + " entries, sizes has " +
                    std::to_string(n.size()));
        std::vector<int64_t> st;
        for (size_t i = 0; i < n.size(); ++i) {
          st.push_back(integer(op, "steps[" + std::to_string(i) + "]", ss[i]));
          require(st.back() >= 1, op, "steps[" + std::to_string(i) + "] must be >= 1 (the "
                                      "step count after this update)");
        }
        require(beta1 >= 0 && beta1 < 1, op, "beta1 must be in [0, 1)");
        require(beta2 >= 0 && beta2 < 1, op, "beta2 must be in [0, 1)");
        const minigan::AdamScalars s{lr, beta1, beta2, eps, weight_decay, 0.0, 0.0,
                                     amsgrad, maximize, decoupled_weight_decay};
        const Dtype dt = dtype_of(op, dtype);
        const Stream strm = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::adam_step(p, g, m1, m2, mx, n, st, s, dt, strm);
      }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("sizes"), py::arg("steps"), py::arg("lr"),
      py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
      py::arg("dtype"), py::arg("stream") = 0,
      "One Adam/AdamW(/AMSGrad) step of many tensors (lists of device pointers, one entry "
      "per tensor; steps: each tensor's step count including this step), in few launches.");

  m.def("sgd_step", [](py::object params, py::object grads, py::object momentum_buffers,
                       py::object fresh, py::object sizes, double lr, double momentum,
                       double dampening, double weight_decay, bool nesterov, bool maximize,
                       py::object dtype, py::object stream) {
        const std::string op = "sgd_step";
        const std::vector<int64_t> n = sizes_of(op, sizes);
        const auto p = pointer_list(op, "params", params, n, true, false);
        const auto g = pointer_list(op, "grads", grads, n, true, false);
        const auto b = pointer_list(op, "momentum_buffers", momentum_buffers, n,
                                    momentum != 0, true);
        require(py::isinstance<py::sequence>(fresh), op, "fresh must be a list of bools");
        const py::sequence fs = py::reinterpret_borrow<py::sequence>(fresh);
        require(fs.size() == n.size() || fs.size() == 0, op,
                "fresh has " + std::to_string(fs.size()) + " entries, sizes has " +
                    std::to_string(n.size()));
        std::vector<bool> f;
        for (size_t i = 0; i < fs.size(); ++i) f.push_back(py::bool_(fs[i]).cast<bool>());
        require(!nesterov || (momentum > 0 && dampening == 0), op,
                "nesterov needs momentum > 0 and dampening 0");
        const minigan::SgdScalars s{lr, momentum, dampening, weight_decay, nesterov, maximize};
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::sgd_step(p, g, b, f, n, s, dt, st);
      }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("fresh"),
      py::arg("sizes"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
      py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"), py::arg("dtype"),
      py::arg("stream") = 0,
      "One SGD step of many tensors; fresh[i]: tensor i's momentum buffer is new and is set to "
      "its gradient (torch's first step). momentum_buffers may be [] without momentum.");

  m.def("rmsprop_step", [](py::object params, py::object grads, py::object square_avgs,
                           py::object grad_avgs, py::object momentum_buffers, py::object sizes,
                           double lr, double alpha, double eps, double weight_decay,
                           double momentum, bool centered, bool maximize, py::object dtype,
                           py::object stream) {
        const std::string op = "rmsprop_step";
        const std::vector<int64_t> n = sizes_of(op, sizes);
        const auto p = pointer_list(op, "params", params, n, true, false);
        const auto g = pointer_list(op, "grads", grads, n, true, false);
        const auto sq = pointer_list(op, "square_avgs", square_avgs, n, true, false);
        const auto ga = pointer_list(op, "grad_avgs", grad_avgs, n, centered, true);
        const auto b = pointer_list(op, "momentum_buffers", momentum_buffers, n, momentum > 0,
                                    true);
        const minigan::RmspropScalars s{lr, alpha, eps, weight_decay, momentum, centered,
                                        maximize};
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::rmsprop_step(p, g, sq, ga, b, n, s, dt, st);
      }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"),
      py::arg("momentum_buffers"), py::arg("sizes"), py::arg("lr"), py::arg("alpha"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"),
      py::arg("maximize"), py::arg("dtype"), py::arg("stream") = 0,
      "One RMSprop step of many tensors; grad_avgs (centered) and momentum_buffers "
      "(momentum > 0) may be [] when unused.");

  m.def("penalty_forward", [](py::object g, py::object sq_norms, py::object penalty,
                              py::object rows, py::object cols, int kind, double center,
                              double power, py::object dtype, py::object stream) {
        const std::string op = "penalty_forward";
        const int64_t r = size_arg(op, "rows", rows), c = size_arg(op, "cols", cols);
        require(kind >= 0 && kind <= 3, op, "kind must be 0..3 (minigan/penalty.h), got " +
                                                std::to_string(kind));
        const Ptr pg = pointer(op, "g", g, r * c > 0);
        const Ptr ps = pointer(op, "sq_norms", sq_norms, r > 0);
        const Ptr pp = pointer(op, "penalty", penalty, false);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::penalty_forward(pg, ps, pp, r, c, kind, center, power, dt, st);
      }, py::arg("g"), py::arg("sq_norms"), py::arg("penalty"), py::arg("rows"), py::arg("cols"),
      py::arg("kind"), py::arg("center"), py::arg("power"), py::arg("dtype"),
      py::arg("stream") = 0,
      "Row squared norms of g (rows, cols) into sq_norms and each row's penalty into penalty "
      "(0: not wanted).");

  m.def("penalty_backward", [](py::object g, py::object sq_norms, py::object upstream,
                               py::object dg, py::object rows, py::object cols, int kind,
                               double center, double power, py::object dtype,
                               py::object stream) {
        const std::string op = "penalty_backward";
        const int64_t r = size_arg(op, "rows", rows), c = size_arg(op, "cols", cols);
        require(kind >= 0 && kind <= 3, op, "kind must be 0..3 (minigan/penalty.h), got " +
                                                std::to_string(kind));
        const bool any = r * c > 0;
        const Ptr pg = pointer(op, "g", g, any), ps = pointer(op, "sq_norms", sq_norms, any);
        const Ptr pu = pointer(op, "upstream", upstream, any), pd = pointer(op, "dg", dg, any);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::penalty_backward(pg, ps, pu, pd, r, c, kind, center, power, dt, st);
      }, py::arg("g"), py::arg("sq_norms"), py::arg("upstream"), py::arg("dg"), py::arg("rows"),
      py::arg("cols"), py::arg("kind"), py::arg("center"), py::arg("power"), py::arg("dtype"),
      py::arg("stream") = 0,
      "dg[i, :] = upstream[i] * coefficient(sq_norms[i]) * g[i, :].");

  m.def("running_stats_update", [](py::object running_mean, py::object running_var,
                                   py::object mean, py::object var, py::object n,
                                   double momentum, double correction, py::object dtype,
                                   py::object stream) {
        const std::string op = "running_stats_update";
        const int64_t count = size_arg(op, "n", n);
        const Ptr prm = pointer(op, "running_mean", running_mean, false);
        const Ptr prv = pointer(op, "running_var", running_var, false);
        const Ptr pm = pointer(op, "mean", mean, count > 0 && prm);
        const Ptr pv = pointer(op, "var", var, count > 0 && prv);
        const Dtype dt = dtype_of(op, dtype);
        const Stream st = stream_of(op, stream);
        py::gil_scoped_release release;
        minigan::cuda::running_stats_update(prm, prv, pm, pv, count, momentum, correction, dt,
                                            st);
      }, py::arg("running_mean"), py::arg("running_var"), py::arg("mean"), py::arg("var"),
      py::arg("n"), py::arg("momentum"), py::arg("correction"), py::arg("dtype"),
      py::arg("stream") = 0,
      "In place: running = running * (1 - momentum) + momentum * value (var times "
      "correction); either running buffer may be 0.");
}
