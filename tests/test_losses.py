"""Adversarial losses against torch implementations of the published formulas: values,
gradients w.r.t. the logits, and second-order gradients, on random logits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import losses
from tests.published import REFERENCE, gan_qp_d, ls_gan_d, pulling_away
from tests.torch_ref import check

unit = st.floats(0.05, 0.95)
HYPER = {
    "minimax": st.fixed_dictionaries({"real_label": st.sampled_from([1.0, 0.9, 0.7])}),
    "nsgan": st.fixed_dictionaries({"real_label": st.sampled_from([1.0, 0.9, 0.7])}),
    "lsgan": st.fixed_dictionaries({k: st.floats(-1.5, 1.5) for k in "abc"}),
    "ebgan": st.fixed_dictionaries({"margin": st.floats(0.5, 3.0), "pt_weight": unit}),
    "began": st.fixed_dictionaries({"gamma": unit, "lambda_k": unit, "k": unit}),
    **{f"f-{d}": st.fixed_dictionaries({"nonsaturating": st.booleans()})
       for d in ("kl", "rkl", "pearson", "hellinger", "js", "gan")},
}


def draw_rng(data) -> np.random.Generator:
    """One generator per example, so the arrays of an example differ from each other."""
    return np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))


def draw_outputs(data):
    n = data.draw(st.integers(1, 6))
    shape = data.draw(st.sampled_from([(n,), (n, 1)]))
    rng = draw_rng(data)
    return rng.uniform(-4, 4, shape), rng.uniform(-4, 4, shape)


def test_every_named_loss_has_a_reference():
    assert sorted(REFERENCE) == sorted(set(losses.names()) - {"gan-qp", "ls-gan"})


@pytest.mark.parametrize("name", sorted(REFERENCE))
@given(data=st.data())
def test_loss_matches_published_formula(name, backend, dtype, data):
    hyper = data.draw(HYPER[name]) if name in HYPER else {}
    loss = losses.get(name, **hyper)
    d_ref, g_ref = REFERENCE[name]
    r, f = draw_outputs(data)
    check(lambda r, f: loss.d_loss(r, f), lambda r, f: d_ref(r, f, **hyper), [r, f],
          backend=backend, dtype=dtype, what=f"{name}.d_loss")
    check(lambda f, r: loss.g_loss(f, r), lambda f, r: g_ref(f, r, **hyper), [f, r],
          backend=backend, dtype=dtype, what=f"{name}.g_loss")


@pytest.mark.parametrize("name, d_ref, g_ref", [
    ("gan-qp", gan_qp_d, lambda f, r: r.mean() - f.mean()),
    ("ls-gan", ls_gan_d, lambda f, r: f.mean()),
])
@given(data=st.data())
def test_paired_losses_with_distance(name, d_ref, g_ref, backend, dtype, data):
    hyper = {"lam": data.draw(st.floats(0.5, 10.0)),
             "distance": data.draw(st.sampled_from(["l1", "l2"]))}
    loss = losses.get(name, **hyper)
    n = data.draw(st.integers(1, 5))
    rng = draw_rng(data)
    r, f = rng.uniform(-4, 4, (n,)), rng.uniform(-4, 4, (n,))
    xr, xf = rng.uniform(-1, 1, (n, 2, 3, 3)), rng.uniform(-1, 1, (n, 2, 3, 3))
    check(lambda r, f, xr, xf: loss.d_loss(r, f, real=xr, fake=xf),
          lambda r, f, xr, xf: d_ref(r, f, xr, xf, **hyper), [r, f, xr, xf],
          backend=backend, dtype=dtype, what=f"{name}.d_loss")
    check(lambda f, r: loss.g_loss(f, r), g_ref, [f, r], backend=backend, dtype=dtype,
          what=f"{name}.g_loss")


@given(data=st.data())
def test_ebgan_generator_with_pulling_away_term(backend, dtype, data):
    n = data.draw(st.integers(2, 5))
    loss = losses.get("ebgan", margin=2.0, pt_weight=0.3)
    rng = draw_rng(data)
    f, emb = rng.uniform(0, 3, (n,)), rng.uniform(-1, 1, (n, 2, 3))
    check(lambda f, s: loss.g_loss(f, embeddings=s),
          lambda f, s: f.mean() + 0.3 * pulling_away(s.flatten(1)), [f, emb],
          backend=backend, dtype=dtype, what="ebgan.g_loss with f_PT")


@pytest.mark.parametrize("power", [1, 2, 1.5])
def test_reconstruction_energy(power, backend, dtype):
    rng = np.random.default_rng(3)
    x, rec = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    check(lambda a, b: losses.reconstruction_energy(a, b, power),
          lambda a, b: ((a - b).abs() ** power).flatten(1).mean(1), [x, rec],
          backend=backend, dtype=dtype, what=f"reconstruction_energy(power={power})")


def test_began_proportional_control_and_convergence_measure(backend):
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), M = L(x) + |balance|;
    the steps drive k into both clipping bounds."""
    loss = losses.get("began", gamma=0.5, lambda_k=0.5, k=0.0)
    steps = [(1.0, 0.2), (4.0, 0.0), (0.5, 3.0), (2.0, 0.5)]
    expected_k = [0.15, 1.0, 0.0, 0.25]
    expected_measure = [1.3, 6.0, 3.25, 2.5]
    k = 0.0
    for (real_energy, fake_energy), k_next, measure in zip(steps, expected_k,
                                                            expected_measure):
        r = minigan.tensor([real_energy - 0.1, real_energy + 0.1], dtype="float64",
                           backend=backend)
        f = minigan.tensor([fake_energy, fake_energy], dtype="float64", backend=backend)
        assert loss.d_loss(r, f).item() == pytest.approx(real_energy - k * fake_energy)
        assert loss.update(r, f) == pytest.approx(measure)
        assert loss.measure == pytest.approx(measure)
        assert loss.k == pytest.approx(k_next)
        k = k_next


def test_unknown_loss_lists_the_known_names():
    with pytest.raises(ValueError, match="unknown loss 'vanilla'.*nsgan.*f-hellinger.*ls-gan"):
        losses.get("vanilla")
    with pytest.raises(TypeError, match=r"losses.get\('hinge'\): unknown hyper-parameter"):
        losses.get("hinge", margin=2.0)


def test_argument_errors_name_the_loss_and_shapes(backend):
    r = minigan.zeros(4, backend=backend)
    with pytest.raises(ValueError, match=r"rsgan.d_loss: real_out of shape \(4,\) and "
                                         r"fake_out of shape \(3,\)"):
        losses.get("rsgan").d_loss(r, minigan.zeros(3, backend=backend))
    with pytest.raises(ValueError, match="ragan.g_loss: .*call g_loss"):
        losses.get("ragan").g_loss(r)
    with pytest.raises(ValueError, match="gan-qp.d_loss: needs the samples"):
        losses.get("gan-qp").d_loss(r, r)
    with pytest.raises(TypeError, match="hinge.d_loss: real_out must be a minigan Tensor"):
        losses.get("hinge").d_loss(np.zeros(4), r)
