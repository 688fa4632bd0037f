#!/usr/bin/env bash
# Hostile-input campaign (issue #11), release build: the figures of the
# README's "Reliability" section.
#
#   bench/hostile.sh            # this tree's release binary
#   BIN=/path/to/cool-runner bench/hostile.sh   # another binary (e.g. an old one)
#   SECTIONS="2 3" CORPUS_TIMEOUT=20 bench/hostile.sh   # some sections only
#
# 1. Hostile YAML: time, exit status and peak memory of each command on a
#    block mapping nested 9,000 levels, 100k nested `[`, 100k nested `{a:`,
#    and one document of 300k keys (`collect`). Each run is cut at 120 s.
# 2. Full disk (root only: a 2 MB tmpfs): 100 experiments of 40 KB results
#    logged there. The run must exit 1 with every log document whole (read
#    by PyYAML, its 40,000-byte PAD intact), the rest queued; after the
#    tmpfs grows, a rerun completes the log (100 documents, each once).
# 3. The corpus (tests/corpus) through run --dry, filter, collect and a
#    resumed queue file: exits by signal, exits 101, slowest command.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sections=${SECTIONS:-1 2 3}
corpus_timeout=${CORPUS_TIMEOUT:-60}
want() { [[ " $sections " == *" $1 "* ]]; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/cool-runner
fi
dir=$(mktemp -d)
cleanup() {
    mountpoint -q "$dir/full" 2>/dev/null && umount "$dir/full"
    rm -rf "$dir"
}
trap cleanup EXIT

# time (s), exit status and peak RSS (MB) of one command, cut at 120 s.
measure() {
    local label=$1
    shift
    local t0 t1 rc rss
    t0=$(date +%s.%N)
    /usr/bin/time -f %M -o "$dir/rss" timeout 120 "$@" >/dev/null 2>"$dir/err"
    rc=$?
    t1=$(date +%s.%N)
    rss=$(tail -n 1 "$dir/rss" | grep -Eo '^[0-9]+$' || echo 0)
    printf '  %-34s %7.2f s  exit %3s  %6.0f MB\n' "$label" "$(echo "$t1 - $t0" | bc)" "$rc" \
        "$(echo "$rss / 1024" | bc)"
}

cd "$dir" || exit 1
if want 1; then
echo "== 1. hostile YAML ($BIN)"
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
head = "Global: {repeat: 1}\nModule: echo\n---\n"
with open(f"{d}/block.yaml", "w") as f:
    f.write(head)
    for i in range(9000):
        f.write(" " * i + "a:\n")
with open(f"{d}/brackets.yaml", "w") as f:
    f.write(head + "a: " + "[" * 100_000 + "\n")
with open(f"{d}/braces.yaml", "w") as f:
    f.write(head + "a: " + "{a: " * 100_000 + "\n")
with open(f"{d}/wide.yaml", "w") as f:
    f.write("---\n" + "".join(f"k{i}: {i}\n" for i in range(300_000)))
PY
for f in block brackets braces; do
    measure "run --dry $f.yaml" "$BIN" run --exp "$f.yaml" --dry --no-store
    measure "filter $f.yaml" "$BIN" filter "$f.yaml"
    measure "collect $f.yaml" "$BIN" collect "$f.yaml" --dest out
done
measure "collect wide.yaml (300k keys)" "$BIN" collect wide.yaml --dest out
fi

if want 2; then
echo "== 2. full disk"
if [ "$(id -u)" != 0 ]; then
    echo "  skipped: mounting a tmpfs needs root"
else
    mkdir -p full && mount -t tmpfs -o size=2m tmpfs full
    printf '#!/bin/sh\npad=$(head -c 40000 /dev/zero | tr "\\0" x)\necho "PAD: $pad" > "$COOL_RUNNER_RESULTS"\n' >pad.sh
    chmod +x pad.sh
    python3 -c "
print('Global: {repeat: 1, queue: q.yaml}\nModule: ./pad.sh\nYamlLog: full/log.yaml')
for i in range(100): print(f'---\nName: e{i}')" >disk.yaml
    readable() {
        python3 -c "
import os, yaml
docs = [d for d in yaml.safe_load_all(open('full/log.yaml')) if d]
whole = [d for d in docs if len(str(d.get('PAD', ''))) == 40000]
names = len({d['Name'] for d in docs})
queued = [d for d in yaml.safe_load_all(open('q.yaml')) if d] if os.path.exists('q.yaml') else []
print(f'{len(whole)} whole documents, {len(docs) - len(whole)} cut, {names} names, {len(queued)} queued')"
    }
    "$BIN" run --exp disk.yaml --no-store >/dev/null 2>"$dir/err"
    echo "  full: exit $? ($(grep -c 'stays in the queue' "$dir/err") 'stays in the queue'); log: $(readable)"
    mount -o remount,size=8m full
    "$BIN" run --exp disk.yaml --no-store >/dev/null 2>"$dir/err"
    echo "  space freed, rerun: exit $?; log: $(readable)"
    umount full
fi
fi

want 3 || exit 0
echo "== 3. corpus"
corpus=$root/tests/corpus
printf 'Global: {repeat: 1, queue: q.yaml}\nModule: "true"\n---\nName: a\n' >queued.yaml
signals=0 panics=0 runs=0 slowest=0 slowest_what=
for f in "$corpus"/*; do
    name=$(basename "$f")
    for cmd in "run --exp $f --dry --no-store" "filter $f" "collect $f --dest out" \
        "run --exp queued.yaml --no-store"; do
        rm -rf q.yaml runs .cool-runner
        cp "$f" q.yaml
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        timeout "$corpus_timeout" "$BIN" $cmd >/dev/null 2>&1
        rc=$?
        t=$(echo "$(date +%s.%N) - $t0" | bc)
        runs=$((runs + 1))
        [ "$rc" -ge 124 ] && signals=$((signals + 1)) && echo "  signal/timeout ($rc): $cmd"
        [ "$rc" = 101 ] && panics=$((panics + 1)) && echo "  exit 101: $cmd"
        if [ "$(echo "$t > $slowest" | bc)" = 1 ]; then
            slowest=$t slowest_what="${cmd/$corpus\//} ($name)"
        fi
    done
done
echo "  $runs commands on $(ls "$corpus" | wc -l) files: $signals by signal or timeout, $panics exit 101"
printf '  slowest: %.2f s, %s\n' "$slowest" "$slowest_what"
