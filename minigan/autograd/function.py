"""Function (an op and its derivative) and the reverse-mode engine.

An op subclasses ``Function``: ``forward(ctx, *args)`` receives the call's arguments (Tensors
as they are, so it may save them) and returns backend arrays; ``backward(ctx, *grads)`` gets
one gradient Tensor per output (``None`` for outputs no gradient reached) and returns one
gradient Tensor (or ``None``) per positional argument, written with differentiable minigan
ops. The engine runs backward with grad mode on only when ``create_graph=True``: the same
formulas then record a graph, which is how gradients of gradients work through every op.

The ``ctx`` object is the graph node itself. Saved outputs are kept as arrays and rebuilt as
Tensors pointing at the node on access, so a node never holds a reference cycle to its outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from minigan.autograd.grad_mode import is_grad_enabled, set_grad_enabled

_FREED = ("Trying to backward through the graph a second time (or to use saved tensors after "
          "they were freed). Pass retain_graph=True to the first backward/grad call.")


def _check_versions(node, recorded, what: str) -> None:
    """torch's version-counter check: a tensor saved for backward must not have been written
    in place since (its values would no longer be the ones the forward used)."""
    for i, (box, version) in enumerate(recorded):
        if box is not None and box[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: {what} {i} of {node.name} is at version {box[0]}; "
                f"expected version {version} instead. Use out-of-place ops (or clone()) on "
                f"tensors a backward still needs")


class Function:
    """Base class of every op. Subclasses define static ``forward`` and ``backward``."""

    differentiable_outputs: tuple[int, ...] | None = None  # None: every output
    # view ops: the output aliases the storage of this positional argument when the backend
    # returns a view (it then shares the argument's version counter, as torch's views do)
    view_of: int | None = None

    def __init__(self):
        self.next_edges: tuple = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.backend = None
        self._saved: tuple | None = ()
        self._saved_versions: tuple = ()
        self._saved_out: tuple | None = None
        self._saved_out_versions: tuple = ()
        self._want_outputs = False
        self._n_out = 1
        self._released = False
        self._out_shapes: tuple = ()
        self._retained: dict | None = None  # output_nr -> weakref of a retain_grad() tensor

    # --- for op authors -------------------------------------------------------------------
    @property
    def k(self):
        """The kernel table of the backend this op runs on."""
        return self.backend.k

    def save_for_backward(self, *tensors) -> None:
        self._saved = tensors
        self._saved_versions = tuple((t._version, t._version[0]) if hasattr(t, "_version")
                                     else (None, 0) for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            raise RuntimeError(f"{type(self).__name__}: {_FREED}")
        _check_versions(self, self._saved_versions, "saved tensor")
        return self._saved

    def save_outputs(self) -> None:
        """Ask for the outputs in backward (``ctx.saved_outputs``), e.g. tanh uses its result."""
        self._want_outputs = True

    @property
    def saved_outputs(self) -> tuple:
        if self._released:
            raise RuntimeError(f"{type(self).__name__}: {_FREED}")
        _check_versions(self, self._saved_out_versions, "output")
        from minigan.autograd.tensor import Tensor
        return tuple(Tensor._from_node(a, self.backend, self, i)
                     for i, a in enumerate(self._saved_out))

    def release(self) -> None:
        self._saved = self._saved_out = None
        self._released = True

    @property
    def name(self) -> str:
        return type(self).__name__

    # --- the call ----------------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        from minigan.autograd.tensor import Tensor
        ctx = cls()
        backend = None
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor):
                if backend is None:
                    backend = a._be
                elif a._be is not backend:
                    raise ValueError(f"{cls.__name__}: tensors live on different backends "
                                     f"({backend.name} and {a._be.name})")
                requires_grad = requires_grad or a.requires_grad
        ctx.backend = backend
        raw = cls.forward(ctx, *args, **kwargs)
        outs = raw if isinstance(raw, tuple) else (raw,)
        outs = tuple(backend.wrap(o) for o in outs)
        ctx._n_out = len(outs)
        ctx._out_shapes = tuple(o.shape for o in outs)
        requires_grad = requires_grad and is_grad_enabled()
        if requires_grad:
            ctx.next_edges = tuple(_edge(a) for a in args)
            if ctx._want_outputs:
                ctx._saved_out = outs
        diff = cls.differentiable_outputs
        results = []
        for i, o in enumerate(outs):
            # integer and bool results (a cast to int, indices) never carry gradients (torch)
            grad_out = requires_grad and (diff is None or i in diff) and \
                backend.dtype(o).kind == "f"
            results.append(Tensor._from_node(o, backend, ctx if grad_out else None, i))
        if cls.view_of is not None:
            src = args[cls.view_of]
            for r in results:
                if backend.shares_storage(r.array, src.array):
                    r._version, r._view = src._version, True
        if requires_grad and ctx._want_outputs:
            ctx._saved_out_versions = tuple((r._version, r._version[0]) for r in results)
        return tuple(results) if isinstance(raw, tuple) else results[0]

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - interface
        raise NotImplementedError


def _edge(a):
    """Where a gradient for argument ``a`` goes: None, a leaf Tensor, or (node, output_nr)."""
    from minigan.autograd.tensor import Tensor
    if not isinstance(a, Tensor) or not a.requires_grad:
        return None
    if a.grad_fn is None:
        return a
    return (a.grad_fn, a._output_nr)


def _topological_order(roots) -> list:
    """Nodes reachable from ``roots``, each before every node it sends gradients to."""
    order, visited = [], set()
    for root in roots:
        if id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root.next_edges))]
        while stack:
            node, it = stack[-1]
            for e in it:
                if type(e) is tuple and id(e[0]) not in visited:
                    visited.add(id(e[0]))
                    stack.append((e[0], iter(e[0].next_edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _accumulate(a, b):
    return b if a is None else a + b


def run_backward(outputs: Sequence, grad_outputs: Sequence, *, retain_graph: bool,
                 create_graph: bool, inputs: Sequence | None = None) -> list | None:
    """Propagate ``grad_outputs`` from ``outputs`` back through the graph.

    With ``inputs=None`` gradients accumulate into the ``.grad`` of leaves (``backward``).
    Otherwise the gradients w.r.t. ``inputs`` are returned and nothing accumulates
    (``grad``); only the part of the graph that leads to an input is run.
    """
    capture = inputs is not None
    leaf_slot = {id(t): i for i, t in enumerate(inputs or ()) if t.grad_fn is None}
    node_slot = {(id(t.grad_fn), t._output_nr): i
                 for i, t in enumerate(inputs or ()) if t.grad_fn is not None}
    captured: list = [None] * len(inputs or ())

    with set_grad_enabled(create_graph):
        buffers: dict[int, list] = {}
        roots = []
        for out, g in zip(outputs, grad_outputs):
            if out.grad_fn is None:  # a leaf passed as an output: its gradient is g itself
                if capture and id(out) in leaf_slot:
                    captured[leaf_slot[id(out)]] = _accumulate(captured[leaf_slot[id(out)]], g)
                elif not capture:
                    out._accumulate_grad(g, create_graph)
                continue
            slot = buffers.setdefault(id(out.grad_fn), [None] * out.grad_fn._n_out)
            slot[out._output_nr] = _accumulate(slot[out._output_nr], g)
            roots.append(out.grad_fn)
        order = _topological_order(roots)
        needed = _needed_nodes(order, leaf_slot, node_slot) if capture else None

        for node in order:
            grads = buffers.pop(id(node), None)
            if grads is None:
                continue
            for nr, g in enumerate(grads):
                if g is None:
                    continue
                if capture and (id(node), nr) in node_slot:
                    i = node_slot[(id(node), nr)]
                    captured[i] = _accumulate(captured[i], g)
                if node._retained and nr in node._retained and not capture:
                    tensor = node._retained[nr]()
                    if tensor is not None:
                        tensor._accumulate_grad(g, create_graph)
            if capture and id(node) not in needed:
                continue
            if node._released:
                raise RuntimeError(f"{node.name}: {_FREED}")
            mask = tuple(_wants(e, capture, needed, leaf_slot, node_slot)
                         for e in node.next_edges)
            node.needs_input_grad = mask
            in_grads = type(node).backward(node, *grads)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) < len(mask):
                in_grads = in_grads + (None,) * (len(mask) - len(in_grads))
            for e, g, want in zip(node.next_edges, in_grads, mask):
                if g is None or not want:
                    continue
                if type(e) is tuple:
                    _check_shape(node, e[0], e[1], g)
                    slot = buffers.setdefault(id(e[0]), [None] * e[0]._n_out)
                    slot[e[1]] = _accumulate(slot[e[1]], g)
                else:
                    if g.shape != e.shape:
                        raise RuntimeError(f"{node.name}.backward returned a gradient of shape "
                                           f"{g.shape} for an input of shape {e.shape}")
                    if capture:
                        i = leaf_slot[id(e)]
                        captured[i] = _accumulate(captured[i], g)
                    else:
                        e._accumulate_grad(g, create_graph)
            if not retain_graph:
                node.release()
    return captured if capture else None


def _check_shape(node, child, nr, g) -> None:
    if g.shape != child._out_shapes[nr]:
        raise RuntimeError(f"{node.name}.backward returned a gradient of shape {g.shape} "
                           f"for a tensor of shape {child._out_shapes[nr]}")


def _wants(edge, capture, needed, leaf_slot, node_slot) -> bool:
    if edge is None:
        return False
    if not capture:
        return True
    if type(edge) is tuple:  # a node that leads to an input, or a requested non-leaf itself
        return id(edge[0]) in needed or (id(edge[0]), edge[1]) in node_slot
    return id(edge) in leaf_slot


def _needed_nodes(order, leaf_slot, node_slot) -> set:
    """Nodes whose backward leads to one of the requested inputs."""
    targets = {key[0] for key in node_slot}
    needed: set = set()
    for node in reversed(order):  # children first
        for e in node.next_edges:
            if e is None:
                continue
            if type(e) is tuple:
                if id(e[0]) in needed or id(e[0]) in targets and (id(e[0]), e[1]) in node_slot:
                    needed.add(id(node))
                    break
            elif id(e) in leaf_slot:
                needed.add(id(node))
                break
    return needed
