#!/usr/bin/env bash
# make fuzz / make fuzz-short: runs every Go fuzz target of the module
# (each func FuzzXxx in a _test.go file outside integration/) for
# FUZZTIME, one after the other: go test -fuzz takes one target of one
# package per run. Without -race, for speed.
#
#   hack/fuzz.sh [FUZZTIME]   default 60s; a count such as 10000x works too
#   FUZZ_PARALLEL             fuzzing workers per target (default 2)
#   FUZZ_MATCH                a regex: only targets whose name matches
#
# A failing input is written to the package's testdata/fuzz/FuzzXxx/,
# where go test replays it with every later unit run; commit it with the
# fix. Go's fuzzing coordinator (golang/go#75804, fixed after Go 1.26) can
# fail a run with a bare "context deadline exceeded" at the end of a
# -fuzztime window although no input failed: such a run counts as passed
# once its corpus replays cleanly, and is reported as a flake.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${1:-60s}
parallel=${FUZZ_PARALLEL:-2}
match=${FUZZ_MATCH:-.}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

failed=()
while read -r file target; do
	[[ $target =~ $match ]] || continue
	pkg=./$(dirname "$file")
	corpus=$pkg/testdata/fuzz/$target
	before=$(ls "$corpus" 2>/dev/null | wc -l)
	start=$SECONDS
	$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg" >"$out" 2>&1
	rc=$?
	after=$(ls "$corpus" 2>/dev/null | wc -l)
	stats=$(grep -o 'execs: [0-9]*.*new interesting: [0-9]* (total: [0-9]*)' "$out" | tail -1 | sed 's/ ([0-9]*\/sec)//')
	if [ $rc -ne 0 ] && [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$out" &&
		! grep -q 'failure while testing seed corpus' "$out" &&
		$GO test -count=1 -run "^${target}\$" "$pkg" >/dev/null 2>&1; then
		echo "flake $pkg $target ($((SECONDS - start))s, $stats): the coordinator's deadline race; corpus replays cleanly"
		continue
	fi
	if [ $rc -ne 0 ]; then
		echo "FAIL  $pkg $target ($((SECONDS - start))s)"
		cat "$out"
		failed+=("$pkg $target")
		continue
	fi
	echo "ok    $pkg $target ($((SECONDS - start))s, $stats)"
done < <(grep -rsH --include='*_test.go' --exclude-dir=integration --exclude-dir=.git -o '^func Fuzz[A-Za-z0-9_]*' . |
	sed 's|^\./||; s|:func | |' | sort)

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} target(s) failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
