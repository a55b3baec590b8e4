"""Shared fixtures: the backend parametrization and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Without a CUDA GPU the Triton backend's kernels run in Triton's interpreter. Triton reads
# this when kernels are decorated, so it is set before any kernel module can load.
try:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
except ImportError:  # pragma: no cover - torch is a test dependency
    pass

import minigan  # noqa: E402
from minigan.backends import BackendUnavailableError  # noqa: E402

# "ci" is deterministic (derandomize) so a green run stays green; "dev" explores more.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("MINIGAN_HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["numpy", "numpy-noext", "triton", "cupy"]

# "numpy-noext" is the numpy backend with its compiled kernels (minigan.kernels._C) switched off:
# the numpy code for the same kernels. It runs in the modules that exercise the kernels the
# extension replaces (the kernel table, convolution, normalization, optimizers, penalties,
# fusion, the gradient checks, layers, losses, tensor ops and whole GAN steps against torch);
# elsewhere the one numpy run is enough.
NO_EXTENSION_MODULES = {"test_backends", "test_conv_pool", "test_norm_act_loss", "test_optim",
                        "test_penalties", "test_fusion", "test_gradcheck", "test_nn",
                        "test_gan_parity", "test_losses", "test_tensor_ops"}


def _drop_noext_elsewhere(config, items) -> None:
    def wanted(item) -> bool:
        spec = getattr(item, "callspec", None)
        if spec is None or spec.params.get("backend") != "numpy-noext":
            return True
        return item.module.__name__.rsplit(".", 1)[-1] in NO_EXTENSION_MODULES
    kept = [item for item in items if wanted(item)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if not wanted(item)])
        items[:] = kept

# Triton's interpreter runs each kernel launch in Python and numpy (~2 ms a launch, a
# property example is hundreds of launches): there, property tests draw fewer examples. The
# same kernels run every example on a GPU and every op's full count runs on numpy.
INTERPRETER_EXAMPLES = int(os.environ.get("MINIGAN_INTERPRETER_EXAMPLES", "4"))


@pytest.fixture(autouse=True)
def _fewer_examples_under_the_interpreter(request):
    fn = request.function
    base = getattr(fn, "_hypothesis_internal_use_settings", None)
    params = getattr(request.node, "callspec", None)
    on_triton = params is not None and params.params.get("backend") == "triton"
    if base is None or not on_triton or os.environ.get("TRITON_INTERPRET", "0") in ("", "0") \
            or base.max_examples <= INTERPRETER_EXAMPLES:
        yield
        return
    fn._hypothesis_internal_use_settings = settings(base, max_examples=INTERPRETER_EXAMPLES)
    try:
        yield
    finally:
        fn._hypothesis_internal_use_settings = base


def _backend_or_skip(name: str) -> str:
    try:
        minigan.get_backend(name)
    except BackendUnavailableError as e:
        pytest.skip(f"backend {name!r} cannot run here: {e}")
    return name


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """Every backend runs the same tests; one that cannot run on this machine is skipped."""
    if request.param == "numpy-noext":
        from minigan.kernels import compiled
        if compiled.CPU is None:
            pytest.skip("the compiled CPU kernels are not built here: the numpy run is this run")
        monkeypatch.setattr(compiled, "CPU", None)
        return "numpy"
    return _backend_or_skip(request.param)


@pytest.fixture(params=["float64", "float32"])
def dtype(request) -> str:
    return request.param


# Every Triton launch of the session is recorded, and the session fails if one of them is not
# among the configurations compile_cases() lists (the ones test_triton compiles for sm_90).
@pytest.fixture(scope="session", autouse=True)
def _record_triton_launches():
    try:
        from minigan.kernels.triton import _common
    except ImportError:  # no triton here: the backend's tests skip
        return
    if _common.RECORD is None:
        _common.RECORD = set()


def pytest_sessionfinish(session, exitstatus):
    started = getattr(session.config, "_minigan_sm90", None)
    if started is not None and started["proc"].poll() is None:  # its test did not run
        import signal
        try:
            os.killpg(started["proc"].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        from minigan.kernels.triton import _common, compile_cases
    except ImportError:
        return
    launched, _common.RECORD = _common.RECORD or set(), None
    missing = launched - {case.key() for case in compile_cases()}
    if missing:
        lines = "\n".join(f"  {key}" for key in sorted(missing, key=str))
        session.config.get_terminal_writer().line(
            f"\n{len(missing)} Triton launch configurations of this session are not in "
            f"compile_cases() (so not compiled for sm_90 in CI):\n{lines}", red=True)
        session.exitstatus = 1


# The sm_90 compile of every Triton configuration (test_triton.py) takes minutes of CPU while
# the interpreter tests keep one core busy: it starts in the background as soon as it is
# collected, with one process, and its test collects the report at the end.
SM90_TEST = "test_every_configuration_compiles_for_sm90"


def start_sm90_compile(config, jobs: int) -> dict:
    import subprocess
    import sys
    import tempfile
    if getattr(config, "_minigan_sm90", None) is None:
        folder = tempfile.mkdtemp(prefix="minigan-sm90-")
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        env.setdefault("TRITON_CACHE_DIR", os.path.join(folder, "cache"))
        log = open(os.path.join(folder, "log.txt"), "w")  # noqa: SIM115 - closed in the test
        report = os.path.join(folder, "sm90.json")
        proc = subprocess.Popen([sys.executable, "-m", "minigan.kernels.triton.sm90", "--jobs",
                                 str(jobs), "--json", report], stdout=log, stderr=log, env=env,
                                start_new_session=True)  # its workers go with it (killpg)
        config._minigan_sm90 = {"proc": proc, "report": report, "log": log}
    return config._minigan_sm90


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(session, config, items):
    _drop_noext_elsewhere(config, items)
    if any(item.name == SM90_TEST for item in items) and len(items) > 1:
        try:
            import triton  # noqa: F401
        except ImportError:
            return
        start_sm90_compile(config, jobs=1)
