"""Reverse-mode autograd: Tensor, Function, backward() and grad(), with higher-order gradients."""

from __future__ import annotations

from minigan.autograd.function import Function, run_backward
from minigan.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigan.autograd.tensor import Tensor

__all__ = ["Tensor", "Function", "Variable", "backward", "grad", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled"]


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, Tensor) else list(x)


def _root_grads(outputs: list, grad_outputs, op: str) -> list:
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise ValueError(f"{op}: got {len(grads)} gradients for {len(outputs)} outputs")
    result = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not out.requires_grad:
            raise RuntimeError(f"{op}: element {i} of tensors does not require grad and does "
                               "not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar "
                                   f"outputs (output {i} has shape {out.shape})")
            g = Tensor(out._be.full(out.shape, 1, out.dtype), out._be)
        elif not isinstance(g, Tensor):
            g = out._lift(g, op)
        if g.shape != out.shape:
            raise RuntimeError(f"{op}: gradient {i} has shape {g.shape} but output has shape "
                               f"{out.shape}")
        result.append(g)
    return result


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(tensors)/d(leaf) into each leaf's ``.grad`` (torch.autograd.backward)."""
    outputs = _as_list(tensors)
    grads = _root_grads(outputs, grad_tensors, "backward")
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = _as_list(inputs)
        found = run_backward(outputs, grads, retain_graph=retain, create_graph=create_graph,
                             inputs=inputs)
        for t, g in zip(inputs, found):
            if g is not None:
                t._accumulate_grad(g, create_graph)
        return
    run_backward(outputs, grads, retain_graph=retain, create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool = False,
         materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned, not accumulated
    (torch.autograd.grad). With ``create_graph=True`` they can be differentiated again.
    ``only_inputs`` is torch's deprecated argument, ignored with torch's warning (grad always
    computes the inputs' gradients only)."""
    if not only_inputs:
        import warnings
        warnings.warn("only_inputs argument is deprecated and is ignored now (defaults to True). "
                      "To accumulate gradient for other parts of the graph, please use "
                      "torch.autograd.backward.", UserWarning, stacklevel=2)
    outputs = _as_list(outputs)
    inputs_list = _as_list(inputs)
    for i, t in enumerate(inputs_list):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    grads = _root_grads(outputs, grad_outputs, "grad")
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, grads, retain_graph=retain, create_graph=create_graph,
                         inputs=inputs_list)
    result = []
    for i, (t, g) in enumerate(zip(inputs_list, found)):
        if g is None:
            if materialize_grads:
                g = Tensor(t._be.zeros(t.shape, t.dtype), t._be)
            elif not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used in the graph;"
                                   " pass allow_unused=True if this is expected")
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


def Variable(data, requires_grad: bool = False, volatile: bool = False):  # noqa: N802
    """torch's deprecated wrapper: the tensor itself (``requires_grad=True`` gives a leaf alias
    of it that requires grad)."""
    from minigan.legacy import Variable as _variable
    return _variable(data, requires_grad, volatile)
