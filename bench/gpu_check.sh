#!/usr/bin/env bash
# The GPU check, run from the repository root on the H200 machine:
#
#     bash bench/gpu_check.sh
#
# Stages, cheap and important first, each under its own `timeout` and all of them under one
# budget (GPU_CHECK_BUDGET seconds, default 540, so that the whole script ends within
# 9.5 minutes, under the device tool's 10 minutes a call); a stage that fails or times out is
# recorded and the next one runs:
#   install  pip install -e . with the CUDA module for sm_90 only (MINIGAN_CUDA_ARCH=90;
#            without it, then without any extension, if the build fails)
#   a        nvidia-smi -L, the triton and cupy backends' details, the CUDA module's
#   b        the CUDA module's kernels against torch (tests/test_cuda_extension.py), then the
#            triton and the cupy tests on the GPU (TRITON_INTERPRET unset: the conftest sets it
#            only without CUDA)
#   c        a 200-step DCGAN run per GPU backend (minigan.train, batch 128), one JSON line
#            each in bench/results/dcgan-{triton,cupy}-run.jsonl
#   d        bench_optim, bench_dcgan, bench_ops, bench_dcgan --gp for both backends in strict
#            IEEE float32, then triton's in TF32, rows appended to
#            bench/results/{optim,dcgan,ops}-h200.jsonl (the backend is in each row)
#   e        compute-sanitizer memcheck and racecheck over the CUDA module's GPU tests
# Everything is logged to bench/results/gpu-check.log; a summary ends the log. If $OUT is
# set, the log and this run's result files are copied there.

set -u
cd "$(dirname "$0")/.."
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1

RESULTS=bench/results
LOG=$RESULTS/gpu-check.log
RUN_DIR=/tmp/gpu-run
BUDGET=${GPU_CHECK_BUDGET:-540}
mkdir -p "$RESULTS"
START_STAMP=$(date "+%Y-%m-%d %H:%M:%S")
SUMMARY=()
STAGE_RC=0
STAGE_SECONDS=0

log() { echo "$*" | tee -a "$LOG"; }

# run_stage NAME TIMEOUT CMD...: CMD under `timeout`, capped by what is left of the budget;
# its output goes to the terminal and the log. Sets STAGE_RC and STAGE_SECONDS.
run_stage() {
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET - SECONDS))
    if ((left < 15)); then
        SUMMARY+=("SKIP  $name (budget of ${BUDGET}s spent)")
        log "== $name: skipped, budget spent"
        STAGE_RC=125
        return 0
    fi
    ((limit > left)) && limit=$left
    log "== $name (timeout ${limit}s, $(date +%T))"
    local t0 t1
    t0=$(date +%s.%N)
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$LOG"
    STAGE_RC=${PIPESTATUS[0]}
    t1=$(date +%s.%N)
    STAGE_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if ((STAGE_RC == 0)); then
        SUMMARY+=("OK    $name (${STAGE_SECONDS}s)")
    elif ((STAGE_RC == 124 || STAGE_RC == 137)); then
        SUMMARY+=("TIME  $name (timed out at ${STAGE_SECONDS}s of ${limit}s)")
    else
        SUMMARY+=("FAIL  $name (exit $STAGE_RC after ${STAGE_SECONDS}s)")
    fi
    log "== $name: exit $STAGE_RC in ${STAGE_SECONDS}s"
    return 0
}

echo "gpu_check $START_STAMP commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    >"$LOG"

# --- install: the CUDA module (sm_90 only: a third of the compile) is what the cupy backend
# needs; without a working build, install without it, then without any extension
run_stage "install" 150 bash -c '
export MINIGAN_CUDA_ARCH=90
MINIGAN_BUILD_CUDA=1 pip install -e . --no-build-isolation --no-deps -q >/tmp/pip-install.log 2>&1 \
    && exit 0
echo "pip install with the CUDA module failed (the log ends below); retrying without it"
tail -15 /tmp/pip-install.log
MINIGAN_BUILD_CUDA=0 pip install -e . --no-build-isolation --no-deps -q >/tmp/pip-install.log 2>&1 \
    && exit 1
echo "pip install with the C++ extension failed (the log ends below); retrying without it"
tail -5 /tmp/pip-install.log
MINIGAN_BUILD_EXTENSION=0 pip install -e . --no-build-isolation --no-deps -q; exit 1'

# --- a: the device and the backend
run_stage "a: device" 60 bash -c 'nvidia-smi -L
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv
python -c "import minigan; print(minigan.get_backend(\"triton\").details())"
python -c "from minigan.kernels import compiled; print(compiled.CUDA and compiled.CUDA.details())"
python -c "import minigan; print(minigan.get_backend(\"cupy\").details())"'

# --- b: the CUDA module's kernels, then the triton and cupy tests on the GPU (pytest-xdist,
# if installed, spreads the compiles); most telling first: the realistic-shape checks and the
# CLI, then whole GAN steps, then the kernel table
XDIST=()
python -c "import xdist" 2>/dev/null && XDIST=(-n 8)
run_stage "b: CUDA module tests" 60 python -m pytest -q --maxfail=5 -p no:cacheprovider \
    tests/test_cuda_extension.py
run_stage "b: triton tests" 120 python -m pytest -q --maxfail=5 -p no:cacheprovider \
    ${XDIST[@]+"${XDIST[@]}"} -k "triton and not sm90" tests/test_triton.py \
    tests/test_gan_parity.py tests/test_backends.py tests/test_conv_pool.py \
    tests/test_optim.py tests/test_norm_act_loss.py
run_stage "b: cupy tests" 90 python -m pytest -q --maxfail=5 -p no:cacheprovider \
    ${XDIST[@]+"${XDIST[@]}"} -k "cupy" tests/test_cupy_backend.py \
    tests/test_gan_parity.py tests/test_backends.py tests/test_conv_pool.py \
    tests/test_optim.py tests/test_norm_act_loss.py tests/test_fusion.py

# --- c: a 200-step DCGAN run per GPU backend, timed; one JSON line with the final losses
for backend in triton cupy; do
rm -rf "$RUN_DIR-$backend"
run_stage "c: dcgan 200 steps $backend" 90 python -m minigan.train dcgan --backend $backend \
    --steps 200 --batch-size 128 --no-progress --out "$RUN_DIR-$backend"
RUN_RC=$STAGE_RC RUN_SECONDS=$STAGE_SECONDS RUN_DIR=$RUN_DIR-$backend BACKEND=$backend \
    python - <<'EOF' 2>&1 | tee -a "$LOG"
import json
import os
import pathlib
import time

from bench.harness import commit, device_name

run = pathlib.Path(os.environ["RUN_DIR"])
metrics = run / "metrics.jsonl"
if not metrics.exists():
    print(f"c: no {metrics}; no line written")
    raise SystemExit(0)
cfg = json.loads((run / "config.json").read_text())
last = json.loads(metrics.read_text().splitlines()[-1])
seconds = float(os.environ["RUN_SECONDS"])
steps = int(last["step"])
images = steps * cfg["batch_size"] * cfg["n_critic"]
try:
    device = device_name("cuda")
except Exception as e:  # noqa: BLE001 - the line is still worth writing
    device = f"unknown ({e})"
line = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": device,
        "backend": os.environ["BACKEND"],
        "commit": commit(), "exit": int(os.environ["RUN_RC"]), "steps": steps,
        "batch_size": cfg["batch_size"], "img_size": cfg["img_size"], "data": cfg["data"],
        "precision": "tf32" if cfg.get("tf32") else "ieee",
        "seconds": round(seconds, 2),  # the whole command: start-up and compiles included
        "images_per_s": round(images / seconds, 1),
        "images_per_s_last_window": round(last["images_per_s"], 1),  # after the compiles
        "d_loss": last["d_loss"], "g_loss": last["g_loss"], "D(x)": last["D(x)"],
        "D(G(z))": last["D(G(z))"]}
with open(f"bench/results/dcgan-{os.environ['BACKEND']}-run.jsonl", "a") as f:
    f.write(json.dumps(line) + "\n")
print("c:", json.dumps(line))
EOF
done

# --- d: the benchmarks: both GPU backends in strict IEEE float32 (torch on the same GPU,
# TF32 off), then triton's TF32 rows
for bench in "bench_optim:40" "bench_dcgan:50" "bench_ops:75" "bench_dcgan --gp:50"; do
    name=${bench%%:*} limit=${bench##*:}
    read -r module extra <<<"$name"
    case $module in
        bench_optim) save=optim size=() ;;
        bench_ops) save=ops size=(--batch-size 128) ;;
        *) save=dcgan size=(--batch-size 128 --img-size 64) ;;
    esac
    for backend in triton cupy; do
        run_stage "d: $name $backend ieee" "$limit" python -m bench.$module --backend $backend \
            $extra ${size[@]+"${size[@]}"} --save $RESULTS/$save-h200.jsonl
    done
done
for module in bench_dcgan bench_ops; do
    if [[ $module == bench_ops ]]; then save=ops size=(--batch-size 128) limit=75
    else save=dcgan size=(--batch-size 128 --img-size 64) limit=50; fi
    run_stage "d: $module triton tf32" "$limit" python -m bench.$module --backend triton --tf32 \
        "${size[@]}" --save $RESULTS/$save-h200.jsonl
done

# --- e: compute-sanitizer over the CUDA module's GPU tests (memcheck, then racecheck)
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        run_stage "e: compute-sanitizer $tool" 60 compute-sanitizer --tool $tool \
            --error-exitcode 3 python -m pytest -q -x -p no:cacheprovider \
            tests/test_cuda_extension.py -k gpu
    done
else
    SUMMARY+=("SKIP  e: compute-sanitizer (not on PATH)")
fi

# --- summary: the stages, then this run's benchmark rows
{
    echo
    echo "== summary ($SECONDS s in all, budget ${BUDGET}s)"
    printf '%s\n' "${SUMMARY[@]}"
    START_STAMP=$START_STAMP python - <<'EOF'
import json
import os
import pathlib

from bench.harness import Row, format_row, header

since = os.environ["START_STAMP"]
for name in ("optim-h200", "dcgan-h200", "ops-h200"):
    path = pathlib.Path(f"bench/results/{name}.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    rows = [r for r in rows if r["date"] >= since]
    print(f"\n{path}: {len(rows)} rows from this run")
    if rows:
        print(header())
    for r in rows:
        fields = {k: r.get(k) for k in Row.__dataclass_fields__}
        print(format_row(Row(**fields)), r.get("backend") or "", r["extra"].get("precision", ""))
EOF
} 2>&1 | tee -a "$LOG"

if [[ -n ${OUT:-} ]]; then
    mkdir -p "$OUT"
    cp "$LOG" $RESULTS/*h200* $RESULTS/dcgan-*-run.jsonl "$OUT/" 2>/dev/null
    for backend in triton cupy; do
        run=$RUN_DIR-$backend
        [[ -d $run ]] || continue
        mkdir -p "$OUT/gpu-run-$backend"
        cp "$run"/config.json "$run"/metrics.jsonl "$OUT/gpu-run-$backend/" 2>/dev/null
        last_sample=$(ls "$run"/samples/*.png 2>/dev/null | tail -1)
        [[ -n $last_sample ]] && cp "$last_sample" "$OUT/gpu-run-$backend/"
    done
    echo "copied the log and the result files to $OUT"
fi
exit 0
