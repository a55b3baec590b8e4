"""Runs that survive signals, kill -9 and broken files (``python -m minigan.train`` in a
subprocess, signalled at random steps), resume semantics, the generator export and the
TensorBoard events. Every interrupted run is finished and compared, array by array and metrics
line by metrics line, with an uninterrupted run of the same command."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minigan.sample import main as sample_main
from minigan.train import main as train_main
from minigan.training import checkpoint as ck
from minigan.training.trainer import read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "8", "--latent-dim", "8"]
# 30 steps; a checkpoint every 7 (so signals land between checkpoints), a metrics line
# every 3 (so an interrupted interval must be continued, not restarted), a grid every step
# (the parent watches the grids to know the step)
def flags(steps=30):
    return [*TINY, "--steps", str(steps), "--checkpoint-interval", "7", "--log-interval", "3",
            "--sample-interval", "1", "--seed", "4"]


FLAGS = flags()
TIMING = ("step_time", "images_per_s", "wall_time", "time")


def train_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "minigan.train", "dcgan", *FLAGS, "--no-progress",
            "--out", str(out)]


def start(out: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(train_cmd(out), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **{k: str(v) for k, v in env.items()}})


def newest_sample(out: Path) -> int:
    steps = [int(p.stem[5:]) for p in (out / "samples").glob("step_*.png")]
    return max(steps, default=0)


def wait_for(cond, proc, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}:\n"
                                 f"{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def finish(proc, timeout=60.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def checkpoint_steps(out: Path) -> list[int]:
    return sorted(int(p.stem[5:]) for p in (out / "checkpoints").glob("step_*.npz"))


def assert_same_run(out: Path, ref: Path) -> None:
    _, a, meta_a = ck.load_latest(out / "checkpoints")
    _, b, meta_b = ck.load_latest(ref / "checkpoints")
    assert meta_a["step"] == meta_b["step"] == 30
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows, ref_rows = read_metrics(out / "metrics.jsonl"), read_metrics(ref / "metrics.jsonl")
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows] == [*range(3, 31, 3)]
    for r, q in zip(rows, ref_rows):
        assert {k: v for k, v in r.items() if k not in TIMING} == \
            {k: v for k, v in q.items() if k not in TIMING}, r["step"]
    assert not [p for p in out.rglob(".*.tmp")], "a temporary file was left behind"
    assert sorted(p.name for p in (out / "samples").iterdir()) == \
        sorted(p.name for p in (ref / "samples").iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ref = tmp_path_factory.mktemp("runs") / "straight"
    assert train_main(["dcgan", *FLAGS, "--no-progress", "--out", str(ref)]) == 0
    return ref


def test_signals_and_kills_lose_nothing_and_change_nothing(tmp_path, reference):
    """One run stopped five times (SIGINT, SIGTERM, kill -9 inside a checkpoint write, a
    double Ctrl-C, kill -9 at a random moment) at random steps, then finished: the same
    weights, optimizer states and metrics lines as the uninterrupted run."""
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    out = tmp_path / "run"
    note = f"(random seed {seed})"

    # SIGINT, then SIGTERM, at random steps: the step in flight ends, a checkpoint of that
    # step is written, one line is printed, and the exit status is 128 + the signal
    at = 0
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        at = rng.randrange(at + 1, at + 7)
        proc = start(out, MINIGAN_DEBUG_STEP_DELAY=0.03)
        wait_for(lambda at=at: newest_sample(out) >= at, proc, f"step {at}")
        proc.send_signal(sig)
        rc, _, err = finish(proc)
        assert rc == code, (err, note)
        last = err.strip().splitlines()[-1]
        step = int(last.split()[3].rstrip(";"))
        assert last == f"interrupted at step {step}; the same command resumes", note
        assert "Traceback" not in err and step >= at, (err, note)
        assert checkpoint_steps(out)[-1] == step, note
        assert all(r["step"] <= step for r in read_metrics(out / "metrics.jsonl")), note
        at = step

    # kill -9 in the middle of a checkpoint write (the write is slowed down to land in it)
    proc = start(out, MINIGAN_DEBUG_CHECKPOINT_DELAY=1.0)
    wait_for(lambda: list((out / "checkpoints").glob(".step_*.tmp")), proc,
             "a checkpoint write")
    proc.kill()
    finish(proc)
    assert list((out / "checkpoints").glob(".step_*.tmp")), "the kill missed the write"
    for path in ck.list_checkpoints(out / "checkpoints"):
        ck.load_checkpoint(path)  # every checkpoint on disk is complete

    # a second Ctrl-C, while the first one's checkpoint is being written, exits at once: the
    # half-written file is removed and every checkpoint on disk stays complete
    t0 = time.time()
    proc = start(out, MINIGAN_DEBUG_STEP_DELAY=0.05, MINIGAN_DEBUG_CHECKPOINT_DELAY=2.0)
    wait_for(lambda: any(p.stat().st_mtime > t0 for p in (out / "samples").glob("*.png")),
             proc, "the resumed run's first step")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: list((out / "checkpoints").glob(".step_*.tmp")), proc,
             "the interrupted run's checkpoint write")
    proc.send_signal(signal.SIGINT)
    rc, _, err = finish(proc)
    assert rc == 130 and "Traceback" not in err, (err, note)
    assert "interrupted again at step" in err.strip().splitlines()[-1], (err, note)
    assert not list((out / "checkpoints").glob(".*.tmp")), note
    for path in ck.list_checkpoints(out / "checkpoints"):
        ck.load_checkpoint(path)

    # kill -9 at a random moment
    proc = start(out, MINIGAN_DEBUG_STEP_DELAY=0.02)
    time.sleep(rng.uniform(0.5, 2.0))
    proc.kill()
    finish(proc)

    # the same command finishes the run
    rc, stdout, err = finish(start(out))
    assert rc == 0, (err, note)
    assert "resuming" in stdout and "done: 30 steps" in stdout, (stdout, note)
    assert_same_run(out, reference)


def test_broken_newest_checkpoint_falls_back_to_the_previous(tmp_path, reference, capsys):
    out = tmp_path / "run"
    assert train_main(["dcgan", *flags(21), "--out", str(out), "--no-progress"]) == 0
    assert checkpoint_steps(out) == [7, 14, 21]
    newest = out / "checkpoints" / "step_000021.npz"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit
    newest.write_bytes(bytes(data))
    capsys.readouterr()
    assert train_main(["dcgan", *FLAGS, "--no-progress", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "step_000021.npz: not a readable minigan checkpoint" in captured.err
    assert "renamed to *.corrupt" in captured.err and "resuming from" in captured.err
    assert "resuming" in captured.out and "at step 14" in captured.out
    assert (out / "checkpoints" / "step_000021.npz.corrupt").exists()
    assert "Traceback" not in captured.err
    assert_same_run(out, reference)


@pytest.mark.parametrize("damage", ["zero-byte", "truncated", "bit-flip", "version", "junk"])
def test_every_broken_checkpoint_is_named(tmp_path, damage):
    path = tmp_path / "step_000005.npz"
    arrays = {"w": np.arange(12.0).reshape(3, 4), "n": np.array(3)}
    ck.save_checkpoint(path, arrays, {"step": 5})
    got, meta = ck.load_checkpoint(path)
    assert meta == {"step": 5} and got["n"].shape == ()
    data = path.read_bytes()
    if damage == "zero-byte":
        path.write_bytes(b"")
        message = "empty file"
    elif damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
        message = "truncated or corrupt"
    elif damage == "bit-flip":
        # a bit inside the array data, where only the checksum can see it... or the zip CRC
        flipped = bytearray(data)
        flipped[data.index(np.arange(12.0).tobytes()) + 17] ^= 1
        path.write_bytes(bytes(flipped))
        message = "corrupt"
    elif damage == "version":
        doc = {"format": 99, "checksum": "", "meta": {"step": 5}}
        np.savez(path, w=arrays["w"],
                 __meta__=np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8))
        message = "format 99"
    else:
        path.write_bytes(b"not a checkpoint at all")
        message = "truncated or corrupt"
    with pytest.raises(ck.CheckpointError, match=message) as e:
        ck.load_checkpoint(path)
    assert str(path) in str(e.value)


def test_checksum_covers_arrays_and_meta(tmp_path, monkeypatch):
    """A file whose zip members are intact but whose content changed (edited and re-zipped)
    fails the checksum: the CRC of the zip alone does not protect the arrays."""
    path = tmp_path / "c.npz"
    ck.save_checkpoint(path, {"w": np.ones(3)}, {"step": 1})
    with np.load(path) as f:
        members = {k: f[k] for k in f.files}
    for edit in ("array", "meta"):
        changed = dict(members)
        if edit == "array":
            changed["w"] = np.array([1.0, 1.0, 2.0])
        else:
            doc = json.loads(members["__meta__"].tobytes())
            doc["meta"]["step"] = 2
            changed["__meta__"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
        np.savez(path, **changed)
        with pytest.raises(ck.CheckpointError, match="checksum mismatch"):
            ck.load_checkpoint(path)
    # format 1 (the bare meta document, written by minigan 0.1) is still read
    np.savez(path, w=np.ones(2), __meta__=np.frombuffer(b'{"step": 3}', dtype=np.uint8))
    assert ck.load_checkpoint(path)[1] == {"step": 3}


def test_no_good_checkpoint_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["dcgan", *TINY, "--steps", "4", "--checkpoint-interval", "2",
                       "--no-progress", "--out", str(out)]) == 0
    for p in (out / "checkpoints").iterdir():
        p.write_bytes(p.read_bytes()[:100])
    capsys.readouterr()
    assert train_main(["dcgan", *TINY, "--steps", "8", "--no-progress",
                       "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigan.train: no readable checkpoint in")
    assert "step_000004.npz" in err and "step_000002.npz" in err and "another --out" in err
    # sample: the export still works; without it, the same clear line
    assert sample_main([str(out), "--n", "4"]) == 0
    (out / "generator.safetensors").write_bytes(b"")
    capsys.readouterr()
    assert sample_main([str(out), "--n", "4"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "generator.safetensors: empty file" in err


def test_generator_export(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["dcgan", *TINY, "--steps", "3", "--no-progress",
                       "--out", str(out)]) == 0
    arrays, info = ck.load_generator_export(out / "generator.safetensors")
    _, ckpt, _ = ck.load_latest(out / "checkpoints")
    assert arrays.keys() == {k[2:] for k in ckpt if k.startswith("G.")}
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, ckpt["G." + k])
    assert info["step"] == 3 and info["channels"] == 1 and info["config"]["latent_dim"] == 8
    # the export alone, copied anywhere, samples the same images as the run folder
    shared = tmp_path / "shared.safetensors"
    shared.write_bytes((out / "generator.safetensors").read_bytes())
    assert sample_main([str(out), "--n", "4", "--out", str(tmp_path / "a.png")]) == 0
    assert sample_main([str(shared), "--n", "4", "--out", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    # a bit flip in the export: the run folder falls back to its checkpoint with a warning,
    # the file alone is refused in one line
    data = bytearray(shared.read_bytes())
    data[-3] ^= 1
    (out / "generator.safetensors").write_bytes(bytes(data))
    shared.write_bytes(bytes(data))
    capsys.readouterr()
    assert sample_main([str(out), "--n", "4", "--out", str(tmp_path / "c.png")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "checksum mismatch" in err and "step_000003.npz" in err
    assert (tmp_path / "c.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    assert sample_main([str(shared), "--n", "4"]) == 1
    err = capsys.readouterr().err
    assert err == f"minigan.sample: {shared}: checksum mismatch: the file is corrupt\n"
    for junk in (b"", b"\x08\x00\x00\x00\x00\x00\x00\x00{}", data[:50]):
        shared.write_bytes(junk)
        assert sample_main([str(shared), "--n", "4"]) == 1
        assert capsys.readouterr().err.count("\n") == 1


def test_resume_semantics(tmp_path, capsys):
    out = tmp_path / "run"

    def train(*flags):
        return train_main(["dcgan", *TINY, "--no-progress", "--out", str(out),
                           "--checkpoint-interval", "2", "--log-interval", "1", *flags])

    def snapshot():
        return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.is_file() and "tensorboard" not in p.parts}

    assert train("--steps", "4") == 0
    before = snapshot()
    capsys.readouterr()
    # a finished run asked for fewer (or as many) steps says so and changes nothing
    for steps in ("2", "4"):
        assert train("--steps", steps) == 0
        said = capsys.readouterr().out
        assert f"is finished at step 4; this command asks for {steps} steps: nothing to do " \
               "and nothing changed" in said
        assert snapshot() == before
    # asked for more, it continues
    assert train("--steps", "6") == 0
    assert "resuming" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["steps"] == 6
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [*range(1, 7)]
    # an interrupted run (checkpoint at 6 of 10 planned) asked for fewer steps than it has
    (out / "checkpoints" / "step_000006.npz").unlink()
    state = ck.load_checkpoint(out / "checkpoints" / "step_000004.npz")
    meta = dict(state[1], total=10)
    ck.save_checkpoint(out / "checkpoints" / "step_000004.npz", state[0], meta)
    before = snapshot()
    capsys.readouterr()
    assert train("--steps", "3") == 0
    assert "is at step 4 (of 10 planned); this command asks for 3 steps" in \
        capsys.readouterr().out
    assert snapshot() == before
    # changed training flags refuse, naming each, and change nothing
    assert train("--steps", "8", "--ngf", "8", "--b1", "0.0") == 1
    err = capsys.readouterr().err
    assert "--ngf=4" in err and "--b1=0.5" in err and "--ngf=8" in err
    assert snapshot() == before
    # a folder without a checkpoint (killed before its first) starts over, dropping its lines
    fresh = tmp_path / "fresh"
    assert train_main(["dcgan", *TINY, "--no-progress", "--out", str(fresh), "--steps", "2",
                       "--log-interval", "1"]) == 0
    for p in (fresh / "checkpoints").iterdir():
        p.unlink()
    with open(fresh / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "d_lo')  # a line torn by the kill
    capsys.readouterr()
    assert train_main(["dcgan", *TINY, "--no-progress", "--out", str(fresh), "--steps", "2",
                       "--log-interval", "1"]) == 0
    assert "no checkpoint yet: starting it over from step 0" in capsys.readouterr().out
    assert [r["step"] for r in read_metrics(fresh / "metrics.jsonl")] == [1, 2]
    assert len((fresh / "metrics.jsonl").read_text().splitlines()) == 2


def test_keep_checkpoints_and_losses_plot(tmp_path):
    from PIL import Image
    out = tmp_path / "run"
    assert train_main(["dcgan", *TINY, "--no-progress", "--out", str(out), "--steps", "9",
                       "--checkpoint-interval", "2", "--keep-checkpoints", "2",
                       "--log-interval", "3"]) == 0
    assert checkpoint_steps(out) == [8, 9]
    img = Image.open(out / "losses.png")
    assert img.size[1] > 400  # two panels: the losses, then D(x) and D(G(z))
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["steps_averaged"] for r in rows] == [3, 3, 3]


def test_tensorboard_events_show_each_step_once(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = tmp_path / "run"

    def train(steps):
        return train_main(["dcgan", *TINY, "--no-progress", "--out", str(out), "--steps",
                           str(steps), "--checkpoint-interval", "2", "--log-interval", "1",
                           "--sample-interval", "2"])

    assert train(5) == 0
    # as if killed after step 5's line but before its checkpoint: a resume goes back to 4
    (out / "checkpoints" / "step_000005.npz").unlink()
    assert train(6) == 0
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert {"d_loss", "g_loss", "D(x)", "D(G(z))", "lr_g", "lr_d"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("d_loss")] == [1, 2, 3, 4, 5, 6]
    rows = read_metrics(out / "metrics.jsonl")
    np.testing.assert_allclose([e.value for e in acc.Scalars("g_loss")],
                               [r["g_loss"] for r in rows], rtol=1e-6)
    assert [e.step for e in acc.Images("samples")] == [2, 4, 6]
    # --no-tensorboard writes none
    other = tmp_path / "quiet"
    assert train_main(["dcgan", *TINY, "--no-progress", "--out", str(other), "--steps", "1",
                       "--no-tensorboard"]) == 0
    assert not (other / "tensorboard").exists()


def test_progress_bar_names_the_kernels(tmp_path):
    from minigan.kernels import compiled
    proc = subprocess.run([sys.executable, "-m", "minigan.train", "dcgan", *TINY, "--steps", "1",
                           "--out", str(tmp_path / "run")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = "numpy + C++ kernels" if compiled.CPU is not None else \
        "numpy (the C++ kernels are not built"
    assert f"dcgan [{expected}" in proc.stderr


def test_resume_flag_needs_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "nothing"
    assert train_main(["dcgan", *TINY, "--steps", "1", "--out", str(out), "--resume"]) == 1
    assert "holds no checkpoint to resume" in capsys.readouterr().err
    assert not out.exists()


def test_install_says_whether_the_kernels_were_built(tmp_path):
    """pip shows a build's output with -v; ``python -m minigan`` says it at any time."""
    build = [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
             "--build-temp", str(tmp_path / "tmp")]
    import importlib.util
    # without pybind11 in this environment (pip builds in an isolated one that has it), the
    # build stops before the compiler, and says that instead
    compiler = "the compiler failed" if importlib.util.find_spec("pybind11") else \
        "pybind11 is not installed in the build environment"
    for env, reason in (({"MINIGAN_BUILD_EXTENSION": "0"}, "MINIGAN_BUILD_EXTENSION=0"),
                        ({"CC": "false", "CXX": "false", "MINIGAN_BUILD_CUDA": "0"}, compiler)):
        proc = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr
        assert "minigan: the compiled CPU kernels (minigan.kernels._C) were not built: " \
               f"{reason}" in proc.stderr
    # the CUDA module: skipped on request, or for want of nvcc (the install goes on)
    no_nvcc = {"PATH": "/usr/bin:/bin", "CUDA_HOME": "", "CUDA_PATH": ""}
    no_pybind11 = None if importlib.util.find_spec("pybind11") else compiler
    for env, reason in (({"MINIGAN_BUILD_CUDA": "0"}, no_pybind11 or "MINIGAN_BUILD_CUDA=0"),
                        (no_nvcc, no_pybind11 or "nvcc was not found")):
        proc = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MINIGAN_BUILD_CPU": "0", **env})
        assert proc.returncode == 0, proc.stderr
        assert "minigan: the CUDA kernels (minigan.kernels._C_cuda) were not built: " \
               f"{reason}" in proc.stderr
    proc = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **no_nvcc, "MINIGAN_BUILD_CPU": "0",
                               "MINIGAN_BUILD_CUDA": "1"})
    required = "pybind11 is not installed" if no_pybind11 else "nvcc was not found"
    assert proc.returncode != 0 and f"MINIGAN_BUILD_CUDA=1 but {required}" in proc.stderr
    from minigan.kernels import compiled
    proc = subprocess.run([sys.executable, "-m", "minigan"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    numpy_line = next(line for line in proc.stdout.splitlines() if "numpy " in line)
    assert ("C++ kernels" in numpy_line) == (compiled.CPU is not None)
    assert "not built" in numpy_line or compiled.CPU is not None
    cuda_line = next(line for line in proc.stdout.splitlines() if "_C_cuda" in line)
    assert ("device(s) here" in cuda_line) == (compiled.CUDA is not None), cuda_line


def test_evaluation_during_training_keeps_the_best(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    flags = ["dcgan", *TINY, "--no-progress", "--out", str(out), "--checkpoint-interval", "2",
             "--eval-interval", "2", "--eval-n", "64", "--eval-metrics", "fid,pr",
             "--log-interval", "1"]
    assert train_main([*flags, "--steps", "5"]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    evals = [r for r in rows if "fid" in r]
    assert [r["step"] for r in evals] == [2, 4, 5]
    assert all(np.isfinite([r["fid"], r["precision"], r["recall"]]).all() for r in evals)
    best = min(evals, key=lambda r: r["fid"])
    arrays, meta = ck.load_checkpoint(out / "checkpoints" / "best.npz")
    assert meta["step"] == best["step"] and meta["best"]["fid"] == pytest.approx(best["fid"])
    assert "best.npz" not in [p.name for p in ck.list_checkpoints(out / "checkpoints")]
    # resumed from step 4 (as if killed before step 5's checkpoint): one line per step again
    (out / "checkpoints" / "step_000005.npz").unlink()
    assert train_main([*flags, "--steps", "6"]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows if "fid" in r] == [2, 4, 6]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2, 3, 4, 5, 6]
    # a feature extractor that cannot run is one line before any training
    capsys.readouterr()
    assert train_main([*flags[:-2], "--steps", "2", "--eval-features", "inception",
                       "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--inception-weights" in err


def test_sample_walks_arrays_and_label_errors(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["dcgan", *TINY, "--steps", "2", "--no-progress", "--out", str(out)]) == 0
    arr = tmp_path / "s.npz"
    assert sample_main([str(out), "--n", "16", "--interpolate", "--save-array", str(arr),
                        "--out", str(tmp_path / "walk.png")]) == 0
    with np.load(arr) as f:
        images = f["images"]
        assert images.shape == (16, 1, 32, 32) and images.dtype == np.float32
        assert "labels" not in f.files
    assert np.abs(images).max() <= 1.0
    # the first and last columns of a walk are two independent latents, the middle ones lie
    # between: neighbouring images differ less than the two ends
    row = images[:8].reshape(8, -1)
    assert np.abs(row[1] - row[0]).mean() < np.abs(row[7] - row[0]).mean()
    capsys.readouterr()
    assert sample_main([str(out), "--label", "3"]) == 1
    assert "not class-conditional" in capsys.readouterr().err


def test_sample_code_grids_and_labels_of_conditional_models(tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "info"
    assert train_main(["infogan", *TINY, "--steps", "1", "--no-progress", "--out", str(out)]) == 0
    assert sample_main([str(out), "--code", "cat", "--out", str(tmp_path / "cat.png")]) == 0
    assert Image.open(tmp_path / "cat.png").size == (10 * 34 + 2, 8 * 34 + 2)
    assert sample_main([str(out), "--code", "1", "--out", str(tmp_path / "c1.png")]) == 0
    assert Image.open(tmp_path / "c1.png").size == (10 * 34 + 2, 10 * 34 + 2)
    capsys.readouterr()
    assert sample_main([str(out), "--code", "7"]) == 1
    assert "continuous code index in 0..1" in capsys.readouterr().err
    cg = tmp_path / "cgan"
    assert train_main(["cgan", *TINY, "--steps", "1", "--no-progress", "--out", str(cg)]) == 0
    arr = tmp_path / "c.npz"
    assert sample_main([str(cg), "--labels", "1,4", "--n", "6", "--save-array", str(arr)]) == 0
    with np.load(arr) as f:
        assert f["labels"].tolist() == [1, 1, 1, 4, 4, 4] and f["images"].shape[0] == 6
    assert sample_main([str(cg), "--label", "12"]) == 1
