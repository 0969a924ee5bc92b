#!/usr/bin/env bash
# Runs every fuzz target of a BATON_FUZZ build for SECONDS each, on a copy of its
# seed corpus (fuzz/corpus/<name>), so that the repository is never written to.
# Crashes, leaks, timeouts and out-of-memory inputs are kept in
# BUILD/fuzz/artifacts/; the exit status is 1 if any target found one.
#
#   fuzz/run.sh BUILD SECONDS [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/run.sh BUILD SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzzer.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

work="$build/fuzz"
mkdir -p "$work/artifacts"
failed=()
for t in "${targets[@]}"; do
  name=${t%_fuzzer}
  bin="$build/fuzz/${name}_fuzzer"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing; build the 'fuzzers' target of $build first" >&2
    failed+=("$name")
    continue
  fi
  corpus="$work/corpus/$name"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  # A dictionary of the input's keywords, where there is one (fuzz/dict/).
  dict=()
  case $name in
    realtime) dict=(-dict=fuzz/dict/realtime.dict) ;;
    federation | wire) dict=(-dict=fuzz/dict/federation.dict) ;;
    api | http_request) dict=(-dict=fuzz/dict/http.dict) ;;
    structured_fields | signature) dict=(-dict=fuzz/dict/structured_fields.dict) ;;
    config) dict=(-dict=fuzz/dict/config.dict) ;;
  esac
  log="$work/$name.log"
  echo "fuzz: $name for ${seconds}s"
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a leak or a blow-up.
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
      -print_final_stats=1 "${dict[@]}" -artifact_prefix="$work/artifacts/$name-" "$corpus" >"$log" 2>&1
  status=$?
  if [ $status -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $status); see $log and $work/artifacts/" >&2
    grep -E "ERROR|SUMMARY|check failed|runtime error" "$log" | head -5 >&2
    failed+=("$name")
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | tr '\n' ' ' | sed "s/^/fuzz: $name: /"
    echo
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a finding"
