#!/usr/bin/env bash
# Everything that needs a GPU, in calls of at most 270 s of the script's own
# time on the GPU machine (H100/H200), ordered by value so that a run cut
# off at its limit still returns what it did. Each step writes its files to
# $OUT as it ends, and summary.txt is rewritten after every step:
#
#   1. env        GPU, driver, clocks, CUDA/cuBLAS/cuDNN/PyTorch versions, the
#                 libraries found, each fused kernel's registers, static and
#                 dynamic shared memory and local memory; the binaries: the ones carried in .gpu/
#                 (scripts/gpu-bundle.sh builds them here) when they load,
#                 used even when they were built from other sources than
#                 these (the summary says so); else a build there (only the
#                 targets this check needs, with the GoogleTest sources the
#                 bundle carries)                                  env.txt
#   2. tests      every GPU test but cuDNN's (unfused, fused against the cpu
#                 reference; the real weights on the 100 crops; graphs,
#                 streams, threads, memory, refused arguments): a test that
#                 fails or SKIPS fails the check                   tests.log, tests.json
#   3. bench      sqz-bench: cudnn, unfused, fused; fp32, fp16; v1.0, v1.1 at
#                 224; batch 1, 8, 64, 256; CUDA graphs on         bench.log
#   4. torch      bench/compare_torch.py on the same GPU in the same call:
#                 eager and CUDA graphs for every configuration, torch.compile
#                 (max-autotune) for v1.1 fp16 at batch 1 and 256; bench.json (its
#                 Markdown report is printed last: bench/report.py)
#   5. sanitize   compute-sanitizer memcheck (leaks too), racecheck, synccheck
#                 and initcheck over the fused kernels and the engine tests;
#                 "Device not supported" or no compute-sanitizer reads as
#                 unavailable here, not as a failure of sqz        tools.log
#   6. cudnn      the cuDNN backend's GPU tests (its algorithm searches make
#                 them slow; appended to tests.log)
#   7. layers     per-layer times of v1.1 at batch 256, every GPU backend and
#                 precision (merged into bench.json)
#   8. python     the Python package's tests against the GPU library (appended
#                 to tests.log)
#   9. ncu        Nsight Compute on one fused v1.1 fp16 forward at batch 256
#                 (stem, Fire, classifier kernels; unavailable where the
#                 counters are refused; appended to tools.log)
#
# That is 7 files (a device call returns 8 at most); no log grows past 8 MiB
# (its head and tail are kept). A call keeps to SQZ_GPU_CHECK_SECONDS
# (default 270): each step gets at most its own share and what is left, and
# one that cannot start in time is listed as NOT RUN.
#
# The time: a session has 15 minutes of device time, the machine's start
# (1-2 minutes) included. A call with timeout_s=300 and its start fit twice
# (2 x (120 + 300) s = 14 minutes), so a first call that fails or runs out
# of time can be followed by a second, corrected one:
#   scripts/gpu-bundle.sh        # here: builds .gpu/ and copies the data to .data/
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu", ".data"], timeout_s=300)
# The first call does not get through every step. For the second, copy its
# summary.txt and bench.json (not the logs: what travels is limited to
# 64 MiB) into .gpu/previous/ and rerun what is left:
#   run(command="bash scripts/gpu-check.sh --rerun .gpu/previous",
#       carry=[".gpu", ".data"], timeout_s=300)
# --rerun DIR reads DIR/summary.txt and runs env, then every step that is
# not there as ok, unavailable or skipped; the benchmark rows of an earlier
# bench step come from DIR/bench.json.
#
# Environment: OUT (default build-gpu/out), SQZ_DATA_DIR (default .data when
# present, else ../shared/data), SQZ_GPU_CHECK_SECONDS, SQZ_GPU_CHECK_SKIP
# (space-separated steps to skip), SQZ_GPU_CHECK_BUNDLE (the bundle's folder,
# default .gpu), SQZ_GPU_CHECK_BIN (a folder holding sqz_gpu_tests, sqz and
# sqz-bench, with libsqz.so in ../lib or beside them: another build to
# check, as the rehearsal on the emulated device does),
# SQZ_GPU_CHECK_BUILD_DIR (default build-gpu) and SQZ_GPU_CHECK_BUILD_ARGS
# (appended to the fallback build's configure), SQZ_GPU_CHECK_TEST_FILTER,
# SQZ_GPU_CHECK_BENCH_MODELS (default "squeezenet1_1 squeezenet1_0"),
# SQZ_GPU_CHECK_BENCH_ARGS (appended to sqz-bench), SQZ_GPU_CHECK_EXPECT
# (what bench/check_results.py requires of its rows) and
# SQZ_GPU_CHECK_TORCH_ARGS (appended to compare_torch.py): for rehearsing
# the script without a GPU (scripts/emu-check.sh does, on the emulated
# device). Exit status: 0 when every step passed, 1 otherwise.
# shellcheck disable=SC2317 # the step functions are called through step()
set -uo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^# shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
previous=""
if [ "${1:-}" = --rerun ]; then
  previous=${2:-}
  [ -f "$previous/summary.txt" ] ||
    { echo "gpu-check: --rerun needs a folder with the first call's summary.txt" >&2; exit 2; }
  previous=$(cd "$previous" && pwd)
elif [ -n "${1:-}" ]; then
  echo "gpu-check: unknown argument '$1' (see --help)" >&2
  exit 2
fi
cd "$(dirname "$0")/.." || exit 1
root=$PWD
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
budget=${SQZ_GPU_CHECK_SECONDS:-270}
skip=" ${SQZ_GPU_CHECK_SKIP:-} "
bundle=${SQZ_GPU_CHECK_BUNDLE:-.gpu}
bench_models=${SQZ_GPU_CHECK_BENCH_MODELS:-squeezenet1_1 squeezenet1_0}
reused_bench=""  # set when the rows are the first call's (--rerun)
[ -d "$bundle" ] && bundle=$(cd "$bundle" && pwd)
export SQZ_DATA_DIR=${SQZ_DATA_DIR:-$([ -d .data ] && echo "$root/.data" || echo "$root/../shared/data")}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/sqz-gpu-check.XXXXXX")
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
command -v nvcc >/dev/null || export PATH="$PATH:/usr/local/cuda/bin"
declare -a summary
failed=0
bin="" lib=""
# A step of the first call that ended ok, unavailable or skipped is not
# run again by --rerun (env always runs: it finds the binaries).
if [ -n "$previous" ]; then
  done_before=""
  while read -r name state _; do
    case $state in ok | unavailable | skipped) [ "$name" = env ] || done_before+=" $name" ;; esac
  done < <(sed -n 's/^  //p' "$previous/summary.txt")
  skip+="${done_before# } "
  summary+=("rerun of $previous/summary.txt: not run again:${done_before:- none}")
fi

# --- the step runner ---------------------------------------------------------

write_summary() {
  {
    echo "gpu-check: started $started, $SECONDS s so far of a ${budget} s budget"
    printf '  %s\n' "${summary[@]}"
  } >"$OUT/summary.txt"
}
# A line of the summary that is not a step's (a warning about the run).
note() {
  summary+=("note: $*")
  write_summary
}

cap_log() { # file: keeps a log under 8 MiB, its first 1 MiB and last 6 MiB
  local f=$1
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt $((8 << 20)) ] || return 0
  { head -c $((1 << 20)) "$f"; printf '\n[... cut to stay under 8 MiB ...]\n'; tail -c $((6 << 20)) "$f"; } >"$f.cut"
  mv "$f.cut" "$f"
}

# Seconds left to the current step (its share, or what is left of the budget).
left() { echo $((step_end - SECONDS)); }
# limited SECONDS CMD...: runs CMD for at most SECONDS, and never past the step.
limited() {
  local s=$1
  shift
  [ "$s" -gt "$(left)" ] && s=$(left)
  [ "$s" -ge 5 ] || { echo "(no time left for: $*)"; return 124; }
  timeout -k 10 "$s" "$@"
}

# step NAME LOG NEED SHARE FUNCTION: runs FUNCTION with its output appended to
# $OUT/LOG, for at most SHARE seconds, if NEED seconds are left. FUNCTION's
# status: 0 ok, 124 timed out, 3 unavailable on this machine, else failed.
step() {
  local name=$1 log=$2 need=$3 share=$4
  shift 4
  if [[ "$skip" == *" $name "* ]]; then
    summary+=("$(printf '%-9s skipped (SQZ_GPU_CHECK_SKIP or --rerun)' "$name")")
    write_summary
    return 0
  fi
  local remaining=$((budget - SECONDS))
  if [ "$remaining" -lt "$need" ]; then
    summary+=("$(printf '%-9s NOT RUN  %ds of the budget left, needs %ds' "$name" "$remaining" "$need")")
    failed=1
    write_summary
    return 0
  fi
  [ "$share" -gt "$remaining" ] && share=$remaining
  step_end=$((SECONDS + share))
  local start=$SECONDS rc
  echo "== $name (at most ${share}s, $(date -u +%H:%M:%S))" | tee -a "$OUT/$log"
  "$@" >>"$OUT/$log" 2>&1
  rc=$?
  cap_log "$OUT/$log"
  local took=$((SECONDS - start)) state
  case $rc in
    0) state=ok ;;
    3) state=unavailable ;;
    124 | 137) state="TIMED OUT" failed=1 ;;
    *) state=FAILED failed=1 ;;
  esac
  summary+=("$(printf '%-9s %-11s %4ds  %s' "$name" "$state" "$took" "$log")")
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || tail -n 25 "$OUT/$log"
  write_summary
}

# --- 1. env: the machine, the libraries, the binaries ------------------------

# A folder holding the first library found of the name, from the system's
# cache, the CUDA toolkit, then the Python packages (nvidia-* wheels).
find_lib_dir() {
  local so=$1 path
  path=$(ldconfig -p 2>/dev/null | awk -v so="$so" '$1 == so { print $NF; exit }')
  [ -n "$path" ] || path=$(find /usr/local/cuda/lib64/ /usr/local/cuda/lib/ -maxdepth 1 -name "$so" 2>/dev/null | head -n 1)
  [ -n "$path" ] || path=$(python3 - "$so" 2>/dev/null <<'EOF'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for hit in glob.glob(os.path.join(root, "nvidia", "*", "lib", sys.argv[1])):
        print(hit)
        raise SystemExit
EOF
)
  [ -n "$path" ] && dirname "$path"
}

binaries_load() { # folder: the test binary lists its tests (so every library loads)
  [ -x "$1/sqz_gpu_tests" ] && [ -x "$1/sqz-bench" ] && [ -x "$1/sqz" ] &&
    "$1/sqz_gpu_tests" --gtest_list_tests >/dev/null 2>&1 &&
    "$1/sqz-bench" --version >/dev/null 2>&1
}

# The GPU machine has no GoogleTest package and no registry to get one: the
# bundle carries Debian's GoogleTest sources, which the build compiles when
# find_package(GTest) finds none.
build_here() {
  local dir=${SQZ_GPU_CHECK_BUILD_DIR:-build-gpu}
  echo "building here ($dir: Release, sm_90; only the targets this check needs)"
  local generator=() cudnn=() gtest=() extra=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  # A cuDNN from the nvidia-cudnn wheel has no unversioned libcudnn.so for
  # CMake to find: name its files.
  if [ -n "${cudnn_dir:-}" ] && [ -f "${cudnn_dir%/lib}/include/cudnn.h" ]; then
    cudnn=(-DCUDNN_INCLUDE_DIR="${cudnn_dir%/lib}/include" -DCUDNN_LIBRARY="$cudnn_dir/libcudnn.so.9")
  fi
  [ -f "$bundle/googletest/CMakeLists.txt" ] && gtest=(-DSQZ_GTEST_SOURCE_DIR="$bundle/googletest")
  # shellcheck disable=SC2206 # word splitting of the extra arguments is wanted
  extra=(${SQZ_GPU_CHECK_BUILD_ARGS:-})
  limited 60 cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSQZ_EMULATE_DEVICE=OFF "${cudnn[@]}" "${gtest[@]}" \
    "${extra[@]}" &&
    limited 240 cmake --build "$dir" --parallel "$(nproc)" \
      --target sqz sqz_cli sqz_bench sqz_gpu_tests || return 1
  mkdir -p "$dir/check-bin"
  ln -sf ../tests/sqz_gpu_tests ../apps/sqz ../bench/sqz-bench "$dir/check-bin/"
  bin=$root/$dir/check-bin lib=$root/$dir
}

do_env() {
  date -u
  nvidia-smi || echo "nvidia-smi failed: no driver here?"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu \
    --format=csv 2>&1 || true
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -n 1)"
  python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)" 2>&1 || true
  local dirs=() so dir
  for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
    dir=$(find_lib_dir "$so")
    echo "$so: ${dir:-NOT FOUND}"
    [ -n "$dir" ] && dirs+=("$dir")
    [ "$so" = libcudnn.so.9 ] && cudnn_dir=$dir
  done
  command -v compute-sanitizer >/dev/null || export PATH="$PATH:/usr/local/cuda/bin"
  echo "compute-sanitizer: $(compute-sanitizer --version 2>/dev/null | tail -n 1 || echo 'not found')"

  if [ -n "${SQZ_GPU_CHECK_BIN:-}" ]; then
    bin=$SQZ_GPU_CHECK_BIN
    lib=$([ -d "$bin/../lib" ] && echo "$bin/../lib" || echo "$bin")
    echo "binaries: $bin (SQZ_GPU_CHECK_BIN)"
  elif [ -d "$bundle/bin" ]; then
    cat "$bundle/BUILD" 2>/dev/null
    bin=$bundle/bin lib=$bundle/lib
  fi
  # The carried libraries first (libsqz, Debian's libjpeg.so.62), then the
  # CUDA, cuBLAS and cuDNN found above.
  local joined
  joined=$(printf '%s\n' "${dirs[@]}" | awk 'NF && !seen[$0]++' | paste -sd:)
  local original=${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH="${lib:+$lib:}${joined}${original:+:$original}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if [ -z "${SQZ_GPU_CHECK_BIN:-}" ] && [ -n "$bin" ]; then
    # Binaries from other sources still test the kernels they were built
    # from: used, and said, rather than losing the call to a rebuild.
    local want have
    want=$(scripts/source-digest.sh)
    have=$(awk '/^sources / { print $2 }' "$bundle/BUILD" 2>/dev/null)
    if ! binaries_load "$bin"; then
      echo "the carried binaries do not load here:"
      "$bin/sqz_gpu_tests" --gtest_list_tests 2>&1 | head -n 5
      bin=""
    elif [ "$want" != "$have" ]; then
      echo "STALE BUNDLE: the carried binaries were built from other sources (${have:-unknown}," \
        "these are $want); used as they are"
      note "stale bundle: the binaries were built from sources ${have:-unknown}, not these" \
        "($want); rerun scripts/gpu-bundle.sh for results of these sources"
    fi
  fi
  if [ -z "$bin" ]; then
    build_here || return 1
    # The binaries built here, with this machine's libraries: none of the
    # bundle's.
    export LD_LIBRARY_PATH="$lib${joined:+:$joined}${original:+:$original}"
  fi
  binaries_load "$bin" || { echo "the binaries in $bin do not run"; return 1; }
  echo "using $bin"
  "$bin/sqz" info builtin:squeezenet1_1 --backend fused --precision fp16 2>&1 | tail -n 25 || true
  echo "the fused kernels' attributes (cudaFuncGetAttributes, after engines of both models):"
  limited 60 "$bin/sqz_gpu_tests" --gtest_filter=FusedLaunchers.KernelAttributesFitTheDevice \
    --gtest_brief=1 2>&1 | tail -n 25 || true
}

# --- 2. tests and 6. cudnn --------------------------------------------------

# run_gtests FILTER JSON SECONDS: the GPU tests FILTER selects; the JSON
# report goes to JSON and its summary (failures and skips) to the log.
run_gtests() {
  local filter=$1 json=$2 seconds=$3
  echo "SQZ_DATA_DIR=$SQZ_DATA_DIR"
  limited "$seconds" "$bin/sqz_gpu_tests" --gtest_output="json:$json" --gtest_filter="$filter"
  local rc=$?
  [ -f "$json" ] || return $((rc ? rc : 1))
  python3 scripts/gtest_summary.py "$json" || return 1
  return "$rc"
}

do_tests() { run_gtests "${SQZ_GPU_CHECK_TEST_FILTER:-*}-*cudnn*:*Cudnn*" "$OUT/tests.json" 150; }

# The cuDNN backend's tests: each engine searches its algorithms at
# creation, seconds each. Their JSON stays out of $OUT (8 files at most).
do_cudnn() { run_gtests "*cudnn*:*Cudnn*" "$scratch/cudnn-tests.json" 120; }

# --- 3. bench: sqz-bench --------------------------------------------------------

# About 48 engines: fp32 v1.0 at batch 256 is the slowest row (cudnn about
# 25 ms a run on an H100), so each row takes its creation (cuDNN's algorithm
# search up to about 2 s), 3 warm-up runs and 100 ms or 20 runs of timing:
# 1 to 2 minutes in all. One sqz-bench a model, v1.1 first, so that a step
# cut off at its limit still keeps the rows of the models that finished.
do_bench() {
  local parts=() model rc=0
  for model in $bench_models; do
    # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
    limited 170 "$bin/sqz-bench" --models "$model" --backends cudnn,unfused,fused \
      --precisions fp32,fp16 --batches 1,8,64,256 --inputs 224 --graphs on \
      --warmup 3 --min-iters 20 --max-iters 1000 --min-time 100 \
      --save-models "$scratch/models" --json "$scratch/bench-$model.json" \
      ${SQZ_GPU_CHECK_BENCH_ARGS:-} || rc=$?
    [ -f "$scratch/bench-$model.json" ] && parts+=("$scratch/bench-$model.json")
    [ "$rc" = 0 ] || break
  done
  [ ${#parts[@]} -gt 0 ] || return $((rc ? rc : 1))
  python3 bench/merge_results.py "${parts[@]}" --out "$scratch/sqz-bench.json" || return 1
  cp "$scratch/sqz-bench.json" "$OUT/bench.json"
  python3 bench/report.py "$OUT/bench.json" --out "$scratch/bench.md" >/dev/null
  [ "$rc" = 0 ] || return "$rc"
  # Every configuration must have run: a backend skipped here is a failure.
  # shellcheck disable=SC2086 # word splitting of the expectations is wanted
  python3 bench/check_results.py "$scratch/sqz-bench.json" --no-skips --expect-kinds forward \
    ${SQZ_GPU_CHECK_EXPECT:---expect-backends cudnn,unfused,fused --expect-batches 1,8,64,256} ||
    return 1
}

# --- 4. torch: PyTorch side by side ---------------------------------------------

# Eager and graphs: 16 configurations, a few seconds each. torch.compile
# max-autotune takes about a minute a configuration: v1.1 fp16 at batch 1
# and 256 only, and none starts after 80 s of compiling.
# The models the bench rows name, saved again (a rerun's bench.json names
# files the first call's machine had): one quick sqz-bench run saves them,
# and the rows' model entries are pointed at them.
resave_models() {
  echo "saving the benchmark's models again (the rows came from the first call)"
  # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
  limited 60 "$bin/sqz-bench" --models "${bench_models// /,}" --backends fused \
    --precisions fp32 --batches 1 --inputs 224 --warmup 0 --iters 1 \
    --save-models "$scratch/models" --json "$scratch/models.json" ${SQZ_GPU_CHECK_BENCH_ARGS:-} \
    >/dev/null || return 1
  python3 - "$scratch/sqz-bench.json" "$scratch/models.json" <<'EOF'
import json, sys
doc, saved = (json.load(open(p)) for p in sys.argv[1:3])
files = {m["model"]: m.get("file") for m in saved.get("models", [])}
for m in doc.get("models", []):
    m["file"] = files.get(m["model"], m.get("file"))
json.dump(doc, open(sys.argv[1], "w"), indent=1)
EOF
}

do_torch() {
  [ -f "$scratch/sqz-bench.json" ] || { echo "no sqz-bench results to compare with"; return 1; }
  [ -z "$reused_bench" ] || resave_models || return 1
  # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
  PYTHONUNBUFFERED=1 limited 200 python3 bench/compare_torch.py --json "$scratch/sqz-bench.json" \
    --out "$scratch/with-torch.json" --library "$lib/libsqz.so" \
    --compile-models squeezenet1_1 --compile-precisions fp16 --compile-batches 1,256 \
    --compile-budget 80 --warmup 3 --min-time 100 ${SQZ_GPU_CHECK_TORCH_ARGS:-}
  local rc=$?
  [ -f "$scratch/with-torch.json" ] || return $((rc ? rc : 1))
  cp "$scratch/with-torch.json" "$OUT/bench.json"
  python3 bench/report.py "$OUT/bench.json" --out "$scratch/bench.md" >/dev/null
  python3 bench/check_results.py "$scratch/with-torch.json" \
    --expect-backends torch-eager,torch-graphs,torch-compile || return 1
  return "$rc"
}

# --- 7. layers: where the time goes ------------------------------------------------

# Per-layer times (sqz_engine_profile) of v1.1 at batch 256 on every GPU
# backend and precision: 6 engines, seconds. Merged into bench.json.
do_layers() {
  # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
  limited 60 "$bin/sqz-bench" --mode layers --models squeezenet1_1 --backends fused,cudnn,unfused \
    --precisions fp16,fp32 --batches 256 --inputs 224 --warmup 3 --min-iters 10 --min-time 100 \
    --json "$scratch/layers.json" ${SQZ_GPU_CHECK_BENCH_ARGS:-} || return 1
  [ -f "$OUT/bench.json" ] || { echo "no bench.json to add the layers to"; return 1; }
  python3 bench/merge_results.py "$OUT/bench.json" "$scratch/layers.json" \
    --out "$scratch/merged.json" &&
    cp "$scratch/merged.json" "$OUT/bench.json" &&
    python3 bench/report.py "$OUT/bench.json" --out "$scratch/bench.md" >/dev/null
}

# --- 5. sanitize: compute-sanitizer ---------------------------------------------

# sanitizer TOOL SECONDS FILTER [OPTIONS...]: one tool over the tests FILTER.
sanitizer() {
  local tool=$1 seconds=$2 filter=$3
  shift 3
  echo "-- $tool: $filter"
  limited "$seconds" compute-sanitizer --tool "$tool" --error-exitcode 1 "$@" \
    "$bin/sqz_gpu_tests" --gtest_filter="$filter" --gtest_brief=1
}

do_sanitize() {
  if ! command -v compute-sanitizer >/dev/null; then
    echo "compute-sanitizer is not installed here: sanitizers unavailable"
    return 3
  fi
  # A probe on one small test: some of these machines refuse the device.
  local probe
  probe=$(limited 60 compute-sanitizer --tool memcheck "$bin/sqz_gpu_tests" \
    --gtest_filter='Sizes/FusedOneFire.*/0' 2>&1)
  echo "$probe" | tail -n 15
  if grep -qiE 'device not supported|error 999|unknown error|Unable to (find|load)|not supported on this' <<<"$probe"; then
    echo "compute-sanitizer cannot use this machine's device: sanitizers unavailable here"
    return 3
  fi
  local status=0
  # cuDNN's algorithm search provokes API errors on purpose; those are not
  # sqz's. The tests reset the device at the end, so leaks are counted.
  sanitizer memcheck 120 'Sizes/FusedOneFire.*:Backends/GpuEngine.RefusedArguments*:Backends/GpuEngine.GraphsOn*:Backends/GpuVsCpu.*squeezenet1_1*' \
    --report-api-errors no --leak-check full || status=1
  sanitizer racecheck 90 'Sizes/FusedOneFire.*' --racecheck-report all || status=1
  sanitizer synccheck 60 'Sizes/FusedOneFire.*' || status=1
  sanitizer initcheck 60 'Sizes/FusedOneFire.*' || status=1
  return "$status"
}

# --- 8. python ---------------------------------------------------------------------

do_python() {
  python3 -c "import pytest" 2>/dev/null || { echo "pytest is not installed here"; return 3; }
  SQZ_LIBRARY="$lib/libsqz.so" SQZ_CLI="$bin/sqz" PYTHONPATH="$root/bindings/python" \
    limited 90 python3 -m pytest -q -p no:cacheprovider tests/python
}

# --- 9. ncu: the fused kernels' hardware counters ---------------------------------

# One forward of v1.1 fp16 at batch 256 on the fused backend, graphs off,
# every stem, Fire and classifier launch profiled (speed of light, occupancy,
# launch statistics), clocks left as they are. Some machines refuse the
# counters: that reads as unavailable.
do_ncu() {
  command -v ncu >/dev/null || { echo "ncu is not installed here: unavailable"; return 3; }
  local log="$scratch/ncu.txt" rc
  limited 120 ncu --clock-control none --kernel-name 'regex:stem|fire|classifier' \
    --launch-count 12 --section SpeedOfLight --section Occupancy --section LaunchStats \
    "$bin/sqz-bench" --models squeezenet1_1 --backends fused --precisions fp16 --batches 256 \
    --inputs 224 --graphs off --warmup 1 --iters 1 --quiet >"$log" 2>&1
  rc=$?
  cat "$log"
  if grep -qiE 'LibraryNotLoaded|ERR_NVGPUCTRPERM|not supported|profiling is not' "$log"; then
    echo "ncu cannot read this machine's counters: unavailable"
    return 3
  fi
  return "$rc"
}

rm -f "$OUT/summary.txt"
# A rerun takes the first call's benchmark rows for the steps that add to
# them (torch, layers).
# (cat, not cp: the files a device call returns are read-only.)
if [ -n "$previous" ] && [ -f "$previous/bench.json" ] && [[ "$skip" == *" bench "* ]]; then
  cat "$previous/bench.json" >"$scratch/sqz-bench.json"
  cat "$previous/bench.json" >"$OUT/bench.json"
  reused_bench=1
fi
step env env.txt 20 200 do_env
if [ -z "$bin" ]; then
  summary+=("no binaries: nothing else can run (env.txt says why)")
  failed=1
  write_summary
else
  step tests tests.log 30 150 do_tests
  step bench bench.log 60 170 do_bench
  step torch bench.log 60 150 do_torch
  step sanitize tools.log 60 200 do_sanitize
  step cudnn tests.log 30 120 do_cudnn
  step layers bench.log 20 45 do_layers
  step python tests.log 30 90 do_python
  step ncu tools.log 30 100 do_ncu
fi
echo
cat "$OUT/summary.txt"
[ -f "$scratch/bench.md" ] && cat "$scratch/bench.md"
rm -rf "$scratch"
exit $failed
