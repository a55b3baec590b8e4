#!/bin/bash
# Runs csrc/cuda's kernels and launchers on the CPU: each block's threads as std::threads,
# __syncthreads as a barrier, warp shuffles through a buffer (cuda_runtime.h here), the .cu
# files with <<<...>>> rewritten to emu::launch. Checks grids, work splits, reductions and the
# multi-tensor batching against torch where no GPU is at hand; not races, the memory model,
# resource limits or alignment faults. Slow (a std::thread per CUDA thread): small shapes.
#   csrc/cuda/emu/run.sh [pytest args]     e.g. -k norm_forward_backward
# EMU_SMS: the multiprocessor count the launchers plan for (default 4; 132 = an H200, which
# splits groups over blocks); EMU_BIG: the optimizers' largest tensor (5300000 = over one
# launch's 320 blocks).
set -e
cd "$(dirname "$0")/../../.."
OUT=$(mktemp -d /tmp/minigan-emu.XXXX)
trap 'rm -rf "$OUT"' EXIT
for f in im2col norm optim penalty; do
  python - "$f" "$OUT" <<'PY'
import re, sys
f, out = sys.argv[1:]
s = open(f"csrc/cuda/{f}.cu").read()
s = re.sub(r"([A-Za-z_][\w:]*(?:<[^<>()]*>)?)<<<(.*?)>>>\(", r"emu::launch(\1, \2, ", s, flags=re.S)
open(f"{out}/{f}.cpp", "w").write(s)
PY
done
cp csrc/cuda/emu/emu_device.cpp "$OUT/"
PYINC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PB=$(python -c "import pybind11; print(pybind11.get_include())")
objs=""
for f in im2col norm optim penalty emu_device; do
  g++ -std=c++20 -O1 -fPIC -D__CUDACC__ -Icsrc/cuda/emu -Icsrc -Ikernels/include \
      -c "$OUT/$f.cpp" -o "$OUT/$f.o" &
  objs="$objs $OUT/$f.o"
done
g++ -std=c++17 -O1 -fPIC -Icsrc -Ikernels/include -I"$PB" -I"$PYINC" -Icsrc/cuda/emu \
    -c csrc/cuda/module.cpp -o "$OUT/module.o"
wait
g++ -shared -pthread $objs "$OUT/module.o" -o "$OUT/_C_cuda$(python3-config --extension-suffix)"
python csrc/cuda/emu/make_tests.py "$OUT"
python -m pytest -q -p no:cacheprovider --rootdir=. "$OUT/test_emu.py" "$@"
