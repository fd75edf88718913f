#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (tests/fuzz, docs/reliability.md):
# builds the libFuzzer harnesses with clang under AddressSanitizer + UBSan
# into build-fuzz/, makes seeds (files written by sqz itself, plus the real
# weights, labels and photographs of the shared data), then runs each
# harness for SECONDS (default 60), two at a time. Exits non-zero on any
# finding: a crash, a leak, a sanitizer report, a timeout, running out of
# memory, or a broken contract (tests/fuzz/fuzz_contract.c). A finding's
# input is kept in build-fuzz/findings/; fix it and copy it to
# tests/fuzz/regressions/HARNESS/, which ctest replays.
#
# The Python harnesses (atheris: the ONNX importer, the .npz converter and
# the .pth reader of python -m sqz.convert) run the same way in build-fuzz/venv, against
# build/libsqz.so.
#
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: SQZ_FUZZ_HARNESSES (default: all C ones), SQZ_FUZZ_PYTHON
# (default: "onnx npz pth"; empty for none), SQZ_FUZZ_JOBS (harnesses at once,
# default 2), SQZ_FUZZ_RUNS (stop each after this many executions instead
# of SECONDS), SQZ_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
harnesses=${SQZ_FUZZ_HARNESSES-"sqzw deep_compression model_load labels layers image"}
python_harnesses=${SQZ_FUZZ_PYTHON-"onnx npz pth"}
jobs=${SQZ_FUZZ_JOBS:-2}
data=${SQZ_DATA_DIR:-../shared/data}
build="build-fuzz"
root=$PWD

if ! command -v clang >/dev/null; then
  echo "fuzz: installing clang (libFuzzer)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
SQZ_SKIP_APT=${SQZ_SKIP_APT:-0} scripts/setup.sh >/dev/null  # dependencies; build/libsqz.so
if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSQZ_WITH_CUDA=OFF \
    -DSQZ_WITH_OPENMP=OFF -DSQZ_BUILD_FUZZERS=ON -DSQZ_SANITIZE=address,undefined \
    -DCMAKE_C_FLAGS=-fno-sanitize-recover=all -DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all \
    >/dev/null
fi
targets=(fuzz_make_seeds)
for h in $harnesses; do targets+=("fuzz_$h"); done
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

# Seeds: made fresh each run (never committed); the corpus grows across runs.
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{sqzw,deep_compression,model_load,labels,layers,image} "$build/findings"
"$build/tests/fuzz/fuzz_make_seeds" "$seeds"
if [ -f "$data/squeezenet_v1.0_deep_compression.net" ]; then
  cp "$data/squeezenet_v1.0_deep_compression.net" "$seeds/deep_compression/"
  { printf '\x07'; head -n 8 "$data/synset_words.txt"; } >"$seeds/labels/synset_head"
  photos=("$data"/imagenet_samples/jpeg/*.jpg)
  cp "${photos[@]:0:3}" "$seeds/image/"
  ppms=("$data"/imagenet_samples/ppm/*.ppm)
  cp "${ppms[0]}" "$seeds/image/"
else
  echo "fuzz: $data has no shared data; seeding with sqz's own files only"
fi

# A harness that outlives its time by far (a hang libFuzzer's own -timeout
# cannot end, such as a deadlock outside an input) is stopped and counts as
# a finding, rather than holding CI until its own limit. Not with
# SQZ_FUZZ_RUNS, whose runs take as long as they take.
guard_seconds=$((2 * seconds + 120))
guard=()
[ -z "${SQZ_FUZZ_RUNS:-}" ] && guard=(timeout -k 10 "$guard_seconds")
declare -A max_len=([sqzw]=65536 [model_load]=65536 [deep_compression]=1048576
  [labels]=4096 [layers]=128 [image]=262144)
run_one() {
  local h=$1
  local corpus=$build/corpus/$h log=$build/fuzz-$h.log dict=()
  mkdir -p "$corpus"
  [ -f "tests/fuzz/dict/$h.dict" ] && dict=("-dict=tests/fuzz/dict/$h.dict")
  local stop=("-max_total_time=$seconds")
  [ -n "${SQZ_FUZZ_RUNS:-}" ] && stop=("-runs=$SQZ_FUZZ_RUNS")
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "${guard[@]}" "$build/tests/fuzz/fuzz_$h" "${stop[@]}" -rss_limit_mb=2048 -timeout=20 \
    -max_len="${max_len[$h]}" -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$build/findings/$h-" "$corpus" "$seeds/$h" >"$log" 2>&1
  echo $? >"$build/fuzz-$h.rc"
}

# Python: a virtual environment with atheris, made once.
if [ -n "$python_harnesses" ]; then
  venv=$build/venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy onnx atheris
  SQZ_LIBRARY="$PWD/build/libsqz.so" "$venv/bin/python" tests/fuzz/python/make_seeds.py \
    "$seeds/python"
fi
run_python() {
  # Separate statements: one `local` expands every value before assigning.
  local h=$1
  local corpus=$build/corpus/python_$h log=$build/fuzz-python_$h.log dict=()
  mkdir -p "$corpus"
  [ -f "tests/fuzz/dict/python_$h.dict" ] && dict=("-dict=$root/tests/fuzz/dict/python_$h.dict")
  local stop=("-max_total_time=$seconds")
  [ -n "${SQZ_FUZZ_RUNS:-}" ] && stop=("-runs=$SQZ_FUZZ_RUNS")
  (cd tests/fuzz/python && SQZ_LIBRARY="$root/build/libsqz.so" SQZ_FUZZ_TMP="$root/$build" \
    "${guard[@]}" "$root/$venv/bin/python" "fuzz_$h.py" "${stop[@]}" "${dict[@]}" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$root/$build/findings/python_$h-" \
    "$root/$corpus" "$root/$seeds/python/$h") >"$log" 2>&1
  echo $? >"$build/fuzz-python_$h.rc"
}

touch "$build/fuzz-start"  # findings of this run only are counted below
running=0
all=()
for h in $harnesses; do all+=("$h"); done
for h in $python_harnesses; do all+=("python_$h"); done
for h in "${all[@]}"; do
  rm -f "$build/fuzz-$h.rc"
  if [[ $h == python_* ]]; then
    (set +e; run_python "${h#python_}") &
  else
    (set +e; run_one "$h") &
  fi
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
failed=()
for h in "${all[@]}"; do
  [ "$(cat "$build/fuzz-$h.rc" 2>/dev/null)" = 0 ] || failed+=("$h")
done

# One line per harness: executions, coverage (edges), corpus, findings.
summary=$build/fuzz-summary.txt
: >"$summary"
for h in "${all[@]}"; do
  log=$build/fuzz-$h.log
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  findings=$(find "$build/findings" -name "$h-*" -newer "$build/fuzz-start" | wc -l)
  printf '%-17s executions %10s  edges %6s  corpus %5s  findings %s\n' "$h" "${execs:-0}" \
    "${cov:-0}" "${corp:-0}" "$findings" | tee -a "$summary"
done
if [ ${#failed[@]} -gt 0 ]; then
  for h in "${failed[@]}"; do
    echo "== fuzz: $h FOUND SOMETHING (build-fuzz/fuzz-$h.log):"
    case $(cat "$build/fuzz-$h.rc" 2>/dev/null) in
      124 | 137) echo "stopped by the guard after $guard_seconds s: it hung" ;;
    esac
    grep -E 'ERROR|SUMMARY|contract broken|Test unit written' "$build/fuzz-$h.log" | head -20
  done
  exit 1
fi
echo "fuzz: no findings (${seconds} s per harness)"
