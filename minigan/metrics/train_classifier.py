"""Train the shipped digits classifier: ``python -m minigan.metrics.train_classifier [--epochs N]
[--seed S] [--out PATH] [--record JSON]``.

The embedded digits (1,797 images at 32x32) are split by ``sklearn.model_selection.
train_test_split`` (a stratified quarter held out, ``random_state=seed``); the network
(:class:`minigan.metrics.digits.DigitsNet`) trains with minigan on the other three quarters,
Adam (lr 2e-3, halved every 6 epochs), 30 epochs, batch 64, cross-entropy, each image shifted
by a random offset of up to 2 pixels in each direction (padding with the background, -1).
Initial weights come from ``minigan.manual_seed(seed)`` and the batch order and shifts from
``np.random.default_rng(seed)``, so the same command writes the same weights, bit for bit, and
the same metadata on the numpy backend (checked: a rerun matched the shipped file's tensors and
metadata; only the order of the header's metadata keys, which safetensors does not fix,
differed). Held-out accuracy is printed and written into the weights file's metadata and, with
``--record``, into a JSON file (bench/results/digits-classifier.json). 30 epochs take 80 s on
2 idle CPU cores (170-290 s when other jobs share them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

import minigan
import minigan.functional as F
from minigan.data import load as load_dataset
from minigan.metrics.digits import WEIGHTS, DigitsNet, save_weights

MAX_SHIFT = 2


def shift_batch(images: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT):
    """Each image moved by a random (dy, dx) in [-max_shift, max_shift], background -1."""
    n, c, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)),
                    constant_values=-1.0)
    out = np.empty_like(images)
    offsets = rng.integers(0, 2 * max_shift + 1, size=(n, 2))
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


def split(seed: int = 0, img_size: int = 32):
    """(train_x, train_y, test_x, test_y): the embedded digits, a stratified quarter held out."""
    from sklearn.model_selection import train_test_split
    data = load_dataset("digits", img_size=img_size)
    tr_x, te_x, tr_y, te_y = train_test_split(data.images, data.labels, test_size=0.25,
                                              stratify=data.labels, random_state=seed)
    return tr_x, tr_y, te_x, te_y


def accuracy(net: DigitsNet, images: np.ndarray, labels: np.ndarray, backend: str) -> float:
    net.eval()
    with minigan.no_grad():
        logits = net(minigan.tensor(images, backend=backend)).numpy()
    net.train()
    return float((logits.argmax(axis=1) == labels).mean())


def feature_scale(net: DigitsNet, images: np.ndarray, backend: str) -> float:
    """1 / the root mean square of the penultimate features over ``images``: the factor the
    shipped features are multiplied by, so that they have unit mean square on the training
    images (KID's cubic kernel then works in the same O(1) regime as with Inception's pool
    features, and FID on these features is in the units of that scale)."""
    net.eval()
    with minigan.no_grad():
        h = net.features(minigan.tensor(images, backend=backend)).numpy().astype(np.float64)
    net.train()
    return float(np.float32(1.0 / np.sqrt(np.mean(h * h))))


def train(epochs: int = 30, seed: int = 0, batch_size: int = 64, lr: float = 2e-3,
          backend: str = "numpy", verbose: bool = True,
          subset: int | None = None) -> tuple[DigitsNet, dict, float]:
    """(network, info for the weights file, seconds): the same arguments give the same
    weights, bit for bit, and the same info on the numpy backend.
    ``subset`` trains on the first ``subset`` training images only (quick tests)."""
    tr_x, tr_y, te_x, te_y = split(seed)
    if subset is not None:
        tr_x, tr_y = tr_x[:subset], tr_y[:subset]
    minigan.manual_seed(seed)
    arch = {"width": 16, "feature_dim": 64, "num_classes": 10}
    net = DigitsNet(**arch).to(backend=backend)
    opt = minigan.optim.Adam(net.parameters(), lr=lr)
    sched = minigan.optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.5)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(tr_x))
        total = 0.0
        for i in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            x = minigan.tensor(shift_batch(tr_x[idx], rng), backend=backend)
            y = minigan.tensor(tr_y[idx], backend=backend)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if verbose and (epoch % 4 == 3 or epoch == epochs - 1):
            print(f"epoch {epoch + 1:3d}  loss {total / len(order):.4f}  held-out accuracy "
                  f"{accuracy(net, te_x, te_y, backend):.4f}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    test_acc = accuracy(net, te_x, te_y, backend)
    scale = feature_scale(net, tr_x, backend)
    net.eval()
    info = {"architecture": arch, "feature_scale": scale, "test_accuracy": round(test_acc, 6),
            "test_correct": int(round(test_acc * len(te_y))), "test_size": len(te_y),
            "train_size": len(tr_y), "dataset": "digits (sklearn optdigits 8x8 -> 32x32)",
            "split": "train_test_split(test_size=0.25, stratify=labels, "
                     f"random_state={seed})",
            "training": {"epochs": epochs, "batch_size": batch_size, "optimizer": "Adam",
                         "lr": lr, "schedule": "StepLR(6, 0.5)", "seed": seed,
                         "augmentation": f"random shifts up to {MAX_SHIFT} px",
                         "backend": backend},
            "minigan_version": minigan.__version__}
    return net, info, time.perf_counter() - start


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigan.metrics.train_classifier",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--out", default=str(WEIGHTS), help="weights file to write")
    parser.add_argument("--record", default=None, help="also write the accuracy and settings "
                        "to this JSON file")
    args = parser.parse_args(argv)
    net, info, seconds = train(args.epochs, args.seed, backend=args.backend)
    save_weights(args.out, net, info)
    size = Path(args.out).stat().st_size
    print(f"held-out accuracy {info['test_accuracy']:.4f} ({info['test_correct']}/"
          f"{info['test_size']}); wrote {args.out} ({size / 1e6:.2f} MB) in {seconds:.0f} s")
    if args.record:
        record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": _commit(),
                  "weights_bytes": size, "train_seconds": round(seconds, 1), **info}
        Path(args.record).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
