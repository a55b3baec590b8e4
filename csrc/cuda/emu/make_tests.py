"""Writes a copy of tests/test_cuda_extension.py that runs its GPU tests on CPU tensors against
the emulated module (run.sh), at shapes small enough for the emulation but in the same regimes
(split groups, several channels a block, multi-launch optimizer lists)."""

import sys

OUT = sys.argv[1]
s = open("tests/test_cuda_extension.py").read()


def sub(old: str, new: str) -> None:
    global s
    assert old in s, f"tests/test_cuda_extension.py changed: {old!r} not found"
    s = s.replace(old, new)


sub('device="cuda"', 'device="cpu"')
sub("torch.cuda.synchronize()", "None")
sub("torch.cuda.current_stream().cuda_stream", "0")
sub("EXT = compiled.CUDA", "import importlib.util as _u, glob as _g\n"
    f"_sp = _u.spec_from_file_location('_C_cuda', _g.glob({OUT!r} + '/_C_cuda*.so')[0])\n"
    "EXT = _u.module_from_spec(_sp); _sp.loader.exec_module(EXT)")
sub("def _has_gpu() -> bool:\n", "def _has_gpu() -> bool:\n    return True\n")
sub('''    ("batch", (64, 64, 32, 32), None),
    ("batch", (64, 256, 4, 4), None),
    ("batch", (64, 128), None),
    ("instance", (16, 64, 32, 32), None),
    ("group", (16, 256, 8, 8), 32),
    ("group", (2, 64, 64, 64), 8),''', '''    ("batch", (16, 3, 16, 16), None),
    ("batch", (6, 5, 3, 3), None),
    ("batch", (6, 5), None),
    ("instance", (2, 3, 8, 8), None),
    ("group", (2, 16, 2, 2), 4),
    ("group", (2, 16, 32, 32), 4),
    ("group", (1, 8, 64, 64), 2),''')
sub("(64, 3, 64, 64, (4, 4)", "(2, 3, 16, 16, (4, 4)")
sub("(32, 128, 16, 16, (3, 3)", "(2, 8, 8, 8, (3, 3)")
sub("(16, 64, 8, 8, (1, 1)", "(2, 4, 8, 8, (1, 1)")
sub("[6_000_000]", "[int(__import__('os').environ.get('EMU_BIG', '40000'))]")
sub("[(64, 3 * 64 * 64), (1000, 7)]", "[(5, 3000), (100, 7)]")
sub("AFFINE_SHAPES = [(64, 128, 16, 16), (4, 64, 256, 256), (4096, 16)]",
    "AFFINE_SHAPES = [(4, 3, 8, 8), (2, 2, 4096), (300, 5)]")
for name in ("test_cuda_source_compiles_for_sm90", "test_cuda_extension_is_built_in_ci",
             "test_no_shared_cudart_dependency", "test_details_describe_the_machine",
             "test_without_a_gpu_calls_raise_cleanly",
             "test_norm_without_affine_on_a_side_stream"):  # not for the emulation
    sub(f"def {name}(", f"def _not_emulated_{name}(")
open(OUT + "/test_emu.py", "w").write(s)
