// minigan._C: the compiled CPU kernels, bound with pybind11. Optional: the numpy backend
// uses them when this module imports and its own numpy code otherwise.
//
// Every function takes C-contiguous numpy arrays of one float dtype and writes into an
// output array the caller allocated, so Python keeps ownership of all memory. The GIL is
// released while a kernel runs.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cpu/fused_norm.h"
#include "cpu/im2col.h"
#include "cpu/multi_tensor.h"
#include "cpu/normalize.h"
#include "cpu/parallel.h"
#include "cpu/penalty.h"

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

// The messages are built only on failure: check_array runs for every array of every call
// (building them eagerly cost ~3 ms of Python str() calls per DCGAN step).
void check_array(const std::string& op, const std::string& name, const py::array& a,
                 const py::dtype& dtype, py::ssize_t size, bool writeable) {
  if (!same_dtype(a.dtype(), dtype))
    require(false, op, name + " has dtype " + std::string(py::str(a.dtype())) + ", expected " +
                           std::string(py::str(dtype)));
  if ((a.flags() & py::array::c_style) == 0) require(false, op, name + " must be C-contiguous");
  if (writeable && !a.writeable()) require(false, op, name + " must be writeable");
  if (a.size() != size)
    require(false, op, name + " has shape " + shape_of(a) + " (" + std::to_string(a.size()) +
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
py::array optional_array(const std::string& op, const std::string& name, const py::object& o) {
  require(py::isinstance<py::array>(o), op, name + " must be a numpy array or None");
  return o.cast<py::array>();
}

template <typename T>
const T* optional_in(const std::string& op, const std::string& name, const py::object& o,
                     const py::dtype& dt, int64_t size) {
  if (o.is_none()) return nullptr;
  const py::array a = optional_array(op, name, o);
  check_array(op, name, a, dt, size, false);
  return in<T>(a);
}

template <typename T>
T* optional_out(const std::string& op, const std::string& name, const py::object& o,
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

// --- fused normalization ------------------------------------------------------------------

minigan::NormLayout layout_of(const std::string& op, const py::tuple& t) {
  require(py::len(t) == 6, op, "layout must be (a, s, b, g, cg, hw)");
  const minigan::NormLayout l{t[0].cast<int64_t>(), t[1].cast<int64_t>(), t[2].cast<int64_t>(),
                              t[3].cast<int64_t>(), t[4].cast<int64_t>(), t[5].cast<int64_t>()};
  const std::string got = "(" + std::to_string(l.a) + ", " + std::to_string(l.s) + ", " +
                          std::to_string(l.b) + ", " + std::to_string(l.g) + ", " +
                          std::to_string(l.cg) + ", " + std::to_string(l.hw) + ")";
  require(l.a >= 0 && l.s >= 0 && l.b >= 0 && l.hw >= 0, op,
          "layout " + got + " (a, s, b, g, cg, hw) must be non-negative");
  require(l.g >= 1 && l.cg >= 1, op, "layout " + got + ": g and cg must be >= 1");
  require(l.s % l.g == 0, op, "layout " + got + ": s must be a multiple of g");
  require(l.b == l.cg * l.hw, op, "layout " + got + ": b must be cg * hw");
  return l;
}

int activation_of(const std::string& op, int act) {
  require(act >= 0 && act <= 4, op,
          "act must be 0 (none), 1 (relu), 2 (leaky_relu), 3 (tanh) or 4 (sigmoid), got " +
              std::to_string(act));
  return act;
}

void norm_forward(const py::array& x, const py::object& dst, py::array y, py::array mean,
                  py::array var, const py::object& weight, const py::object& bias,
                  const py::tuple& layout, double eps, int act, double slope) {
  const std::string op = "norm_forward";
  const minigan::NormLayout l = layout_of(op, layout);
  activation_of(op, act);
  const int64_t size = l.a * l.s * l.b;
  const py::dtype dt = float_dtype(op, "x", x);
  check_array(op, "x", x, dt, size, false);
  check_array(op, "y", y, dt, size, true);
  check_array(op, "mean", mean, dt, l.s, true);
  check_array(op, "var", var, dt, l.s, true);
  if (dst.is_none()) {
    require(weight.is_none() && bias.is_none() && act == 0, op,
            "weight, bias and act apply to out: with out None they must be None and 0");
  }
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T* px = in<T>(x);
    const T *pw = optional_in<T>(op, "weight", weight, dt, l.channels()),
            *pb = optional_in<T>(op, "bias", bias, dt, l.channels());
    T* po = optional_out<T>(op, "out", dst, dt, size);
    T *py_out = out<T>(y), *pm = out<T>(mean), *pv = out<T>(var);
    py::gil_scoped_release release;
    minigan::norm_forward<T>(px, po, py_out, pm, pv, pw, pb, l, eps, act, T(slope));
  });
}

void norm_backward(const py::array& g, const py::object& act_out, const py::array& y,
                   const py::array& var, const py::object& weight, const py::object& dx,
                   const py::object& dweight, const py::object& dbias, const py::tuple& layout,
                   double eps, int act, double slope) {
  const std::string op = "norm_backward";
  const minigan::NormLayout l = layout_of(op, layout);
  activation_of(op, act);
  require(act == 0 || !act_out.is_none(), op,
          "out is needed for the gradient of the activation (act " + std::to_string(act) + ")");
  const int64_t size = l.a * l.s * l.b;
  const py::dtype dt = float_dtype(op, "g", g);
  check_array(op, "g", g, dt, size, false);
  check_array(op, "y", y, dt, size, false);
  check_array(op, "var", var, dt, l.s, false);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T *pg = in<T>(g), *py_in = in<T>(y), *pv = in<T>(var);
    // out is checked when given, read only by an activation's gradient
    const T* po = optional_in<T>(op, "out", act_out, dt, size);
    if (act == 0) po = nullptr;
    const T* pw = optional_in<T>(op, "weight", weight, dt, l.channels());
    T* pdx = optional_out<T>(op, "dx", dx, dt, size);
    T* pdw = optional_out<T>(op, "dweight", dweight, dt, l.channels());
    T* pdb = optional_out<T>(op, "dbias", dbias, dt, l.channels());
    py::gil_scoped_release release;
    minigan::norm_backward<T>(pg, po, py_in, pv, pw, pdx, pdw, pdb, l, eps, act, T(slope));
  });
}

// --- multi-tensor optimizers --------------------------------------------------------------

// The lists of one optimizer call: every list as long as params, every array of params[0]'s
// dtype (float32 or float64) and of its parameter's size.
struct TensorLists {
  std::string op;
  py::dtype dtype;
  py::ssize_t count;

  TensorLists(std::string op_, const py::sequence& params)
      : op(std::move(op_)), dtype(py::dtype::of<float>()), count(py::len(params)) {
    if (count > 0) dtype = float_dtype(op, "params[0]", item(params, "params", 0));
  }

  void same_length(const py::sequence& list, const char* name) const {
    require(py::ssize_t(py::len(list)) == count, op,
            std::string(name) + " has " + std::to_string(py::len(list)) + " entries, params has " +
                std::to_string(count));
  }

  py::array item(const py::sequence& list, const char* name, py::ssize_t i) const {
    const std::string what = std::string(name) + "[" + std::to_string(i) + "]";
    const py::object o = list[i];
    require(py::isinstance<py::array>(o), op, what + " must be a numpy array");
    return o.cast<py::array>();
  }

  // list[i] checked against params[i]'s size; null when it is None and may be.
  template <typename T>
  T* array(const py::sequence& list, const char* name, py::ssize_t i, int64_t size,
           bool writeable, bool may_be_none = false) const {
    const std::string what = std::string(name) + "[" + std::to_string(i) + "]";
    if (may_be_none && py::object(list[i]).is_none()) return nullptr;
    py::array a = item(list, name, i);
    check_array(op, what, a, dtype, size, writeable);
    return static_cast<T*>(a.mutable_data());  // the list keeps the array alive
  }
};

void adam_step(const py::sequence& params, const py::sequence& grads,
               const py::sequence& exp_avgs, const py::sequence& exp_avg_sqs,
               const py::sequence& max_exp_avg_sqs, const py::sequence& steps, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
               bool maximize, bool decoupled_weight_decay) {
  const TensorLists lists("adam_step", params);
  lists.same_length(grads, "grads");
  lists.same_length(exp_avgs, "exp_avgs");
  lists.same_length(exp_avg_sqs, "exp_avg_sqs");
  lists.same_length(max_exp_avg_sqs, "max_exp_avg_sqs");
  lists.same_length(steps, "steps");
  run_typed(lists.dtype, [&](auto t) {
    using T = decltype(t);
    std::vector<minigan::AdamTensor<T>> tensors;
    for (py::ssize_t i = 0; i < lists.count; ++i) {
      const int64_t size = lists.item(params, "params", i).size();
      // an int or a float (minigan's optimizers count steps in floats, as torch does)
      const double step = py::object(steps[i]).cast<double>();
      require(step >= 1, lists.op,
              "steps[" + std::to_string(i) + "] must be >= 1, got " +
                  std::string(py::str(py::object(steps[i]))));
      minigan::AdamScalars s{};
      s.lr = lr;
      s.beta1 = beta1;
      s.beta2 = beta2;
      s.eps = eps;
      s.weight_decay = weight_decay;
      // As Python computes them (float ** int and ** 0.5 call C's pow).
      s.step_size = lr / (1 - std::pow(beta1, step));
      s.bias_correction2_sqrt = std::pow(1 - std::pow(beta2, step), 0.5);
      s.amsgrad = amsgrad;
      s.maximize = maximize;
      s.decoupled = decoupled_weight_decay;
      tensors.push_back({lists.array<T>(params, "params", i, size, true),
                         lists.array<T>(grads, "grads", i, size, false),
                         lists.array<T>(exp_avgs, "exp_avgs", i, size, true),
                         lists.array<T>(exp_avg_sqs, "exp_avg_sqs", i, size, true),
                         lists.array<T>(max_exp_avg_sqs, "max_exp_avg_sqs", i, size, true,
                                        !amsgrad),
                         size, s});
    }
    py::gil_scoped_release release;
    minigan::adam_step<T>(tensors);
  });
}

void sgd_step(const py::sequence& params, const py::sequence& grads,
              const py::sequence& momentum_buffers, const py::sequence& fresh, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool maximize) {
  const TensorLists lists("sgd_step", params);
  lists.same_length(grads, "grads");
  lists.same_length(momentum_buffers, "momentum_buffers");
  lists.same_length(fresh, "fresh");
  const minigan::SgdScalars s{lr, momentum, dampening, weight_decay, nesterov, maximize};
  run_typed(lists.dtype, [&](auto t) {
    using T = decltype(t);
    std::vector<minigan::SgdTensor<T>> tensors;
    for (py::ssize_t i = 0; i < lists.count; ++i) {
      const int64_t size = lists.item(params, "params", i).size();
      tensors.push_back({lists.array<T>(params, "params", i, size, true),
                         lists.array<T>(grads, "grads", i, size, false),
                         lists.array<T>(momentum_buffers, "momentum_buffers", i, size, true,
                                        momentum == 0),
                         py::object(fresh[i]).cast<bool>(), size});
    }
    py::gil_scoped_release release;
    minigan::sgd_step<T>(tensors, s);
  });
}

void rmsprop_step(const py::sequence& params, const py::sequence& grads,
                  const py::sequence& square_avgs, const py::sequence& grad_avgs,
                  const py::sequence& momentum_buffers, double lr, double alpha, double eps,
                  double weight_decay, double momentum, bool centered, bool maximize) {
  const TensorLists lists("rmsprop_step", params);
  lists.same_length(grads, "grads");
  lists.same_length(square_avgs, "square_avgs");
  lists.same_length(grad_avgs, "grad_avgs");
  lists.same_length(momentum_buffers, "momentum_buffers");
  const minigan::RmspropScalars s{lr, alpha, eps, weight_decay, momentum, centered, maximize};
  run_typed(lists.dtype, [&](auto t) {
    using T = decltype(t);
    std::vector<minigan::RmspropTensor<T>> tensors;
    for (py::ssize_t i = 0; i < lists.count; ++i) {
      const int64_t size = lists.item(params, "params", i).size();
      tensors.push_back({lists.array<T>(params, "params", i, size, true),
                         lists.array<T>(grads, "grads", i, size, false),
                         lists.array<T>(square_avgs, "square_avgs", i, size, true),
                         lists.array<T>(grad_avgs, "grad_avgs", i, size, true, !centered),
                         lists.array<T>(momentum_buffers, "momentum_buffers", i, size, true,
                                        !(momentum > 0)),
                         size});
    }
    py::gil_scoped_release release;
    minigan::rmsprop_step<T>(tensors, s);
  });
}

// --- gradient penalties -------------------------------------------------------------------

struct PenaltyRows {
  int64_t n, d;
};

PenaltyRows penalty_rows(const std::string& op, const py::array& g, int kind) {
  require(kind >= 0 && kind <= 3, op,
          "kind must be 0 (two-sided), 1 (one-sided), 2 (squared) or 3 (power), got " +
              std::to_string(kind));
  require(g.ndim() >= 1, op, "g must have a row axis, got shape " + shape_of(g));
  int64_t d = 1;
  for (py::ssize_t k = 1; k < g.ndim(); ++k) d *= g.shape(k);
  return {int64_t(g.shape(0)), d};
}

void penalty_forward(const py::array& g, py::array sq_norms, py::array penalty, int kind,
                     double center, double power) {
  const std::string op = "penalty_forward";
  const PenaltyRows r = penalty_rows(op, g, kind);
  const py::dtype dt = float_dtype(op, "g", g);
  check_array(op, "g", g, dt, r.n * r.d, false);
  check_array(op, "sq_norms", sq_norms, dt, r.n, true);
  check_array(op, "penalty", penalty, dt, r.n, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T* pg = in<T>(g);
    T *ps = out<T>(sq_norms), *pp = out<T>(penalty);
    py::gil_scoped_release release;
    minigan::penalty_forward<T>(pg, ps, pp, r.n, r.d, kind, T(center), T(power));
  });
}

void penalty_backward(const py::array& g, const py::array& sq_norms, const py::array& upstream,
                      py::array dg, int kind, double center, double power) {
  const std::string op = "penalty_backward";
  const PenaltyRows r = penalty_rows(op, g, kind);
  const py::dtype dt = float_dtype(op, "g", g);
  check_array(op, "g", g, dt, r.n * r.d, false);
  check_array(op, "sq_norms", sq_norms, dt, r.n, false);
  check_array(op, "upstream", upstream, dt, r.n, false);
  check_array(op, "dg", dg, dt, r.n * r.d, true);
  run_typed(dt, [&](auto t) {
    using T = decltype(t);
    const T *pg = in<T>(g), *ps = in<T>(sq_norms), *pu = in<T>(upstream);
    T* pdg = out<T>(dg);
    py::gil_scoped_release release;
    minigan::penalty_backward<T>(pg, ps, pu, pdg, r.n, r.d, kind, T(center), T(power));
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
  m.def("norm_forward", &norm_forward, py::arg("x"), py::arg("out"), py::arg("y"),
        py::arg("mean"), py::arg("var"), py::arg("weight"), py::arg("bias"), py::arg("layout"),
        py::arg("eps"), py::arg("act"), py::arg("slope"),
        "Fused batch/instance/group norm. layout (a, s, b, g, cg, hw): x viewed as (a, s, b), "
        "statistics per s (mean, biased var), affine channel p = (s % g) * cg + b_index // hw. "
        "Writes y = (x - mean) / sqrt(var + eps) and, unless out is None, out = act(y * "
        "weight[p] + bias[p]) (act 0 none, 1 relu, 2 leaky_relu(slope), 3 tanh, 4 sigmoid; "
        "weight, bias None: 1, 0).");
  m.def("norm_backward", &norm_backward, py::arg("g"), py::arg("out"), py::arg("y"),
        py::arg("var"), py::arg("weight"), py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("layout"), py::arg("eps"), py::arg("act"), py::arg("slope"),
        "The gradients of norm_forward from g = d loss / d out: dx, dweight, dbias (each None "
        "when not wanted). out may be None only with act 0.");
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
        "Multi-tensor Adam/AdamW(/AMSGrad) in place, torch's single-tensor arithmetic; steps[i] "
        "is tensor i's step count including this update.");
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("fresh"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        "Multi-tensor SGD in place (momentum_buffers entries None when momentum == 0).");
  m.def("rmsprop_step", &rmsprop_step, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("lr"),
        py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
        py::arg("centered"), py::arg("maximize"),
        "Multi-tensor RMSprop in place (grad_avgs None unless centered, momentum_buffers None "
        "unless momentum > 0).");
  m.def("penalty_forward", &penalty_forward, py::arg("g"), py::arg("sq_norms"),
        py::arg("penalty"), py::arg("kind"), py::arg("center"), py::arg("power"),
        "g (N, ...) as N rows: sq_norms[i] = ||g[i]||^2, penalty[i] by kind: 0 (||g|| - "
        "center)^2, 1 max(0, ||g|| - center)^2, 2 ||g||^2, 3 ||g||^power.");
  m.def("penalty_backward", &penalty_backward, py::arg("g"), py::arg("sq_norms"),
        py::arg("upstream"), py::arg("dg"), py::arg("kind"), py::arg("center"),
        py::arg("power"),
        "dg[i] = upstream[i] * d penalty[i] / d g[i] (0 at a zero row for kinds 0, 1, 3).");
  // Adam's and RMSprop's loops vectorize only without math-errno (csrc/cpu/multi_tensor.cpp).
#ifdef __NO_MATH_ERRNO__
  m.attr("OPTIMIZERS_VECTORIZED") = true;
#else
  m.attr("OPTIMIZERS_VECTORIZED") = false;
#endif
  m.def("get_num_threads", [] { return minigan::max_threads(); },
        "Threads a kernel splits its work over (default 1: see csrc/cpu/parallel.h).");
  m.def("set_num_threads", [](int64_t n) {
        require(n >= 1, "set_num_threads", "n must be >= 1, got " + std::to_string(n));
        minigan::max_threads() = n;
      }, py::arg("n"));
}
