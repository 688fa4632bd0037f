#!/usr/bin/env bash
# The web page's figures (issue 17). Not a test: it prints figures.
#
#   bench/serve.sh [N] [M]     # N runs in the store (100000), M experiments
#                              # for the `run --serve` overhead (1000)
#
# 1. Fills a store with N finished runs (Python's sqlite3, the runner's own
#    schema), starts `cool-runner serve` on it and times, over plain HTTP on
#    127.0.0.1: the first page of the results table (JSON and the whole
#    HTML page), a group-by over all runs, a filter over all runs and the
#    results part with parallel coordinates — each timed on its first ask
#    (over every run) and as the median of 7 asks each made after one
#    more run was committed (no answer kept from before can be reused) —
#    and, as the plain cost of the same work, Python reading every
#    document from SQLite and grouping it.
# 2. Event latency: a run committed to the store by another process →
#    the server's event on an open event stream → the results fragment the
#    page then fetches (what a browser shows, less drawing it).
# 3. The first view's transfer size: the page and its three assets.
# 4. `run --serve 0` (no page open, and with a page open that follows
#    every event) against plain `run` on M experiments with
#    `Module: /bin/true`, in ROUNDS (10) interleaved rounds, against the
#    bare spawn loop (examples/spawn_true.rs): the share the server adds to
#    the runner's own per-experiment overhead, in CPU time (of the whole
#    process tree) and in wall time; then `perf`'s share of the server's
#    threads.
#
#    ONLY=web or ONLY=run runs parts 1-3 or part 4 alone; RUN_MODES="bare
#    plain serve" leaves out the page for more rounds in the time; PERF=0
#    leaves out perf.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
M=${2:-1000}
ROUNDS=${ROUNDS:-10}
ONLY=${ONLY:-}   # `web`: parts 1-3 only; `run`: part 4 only
RUN_MODES=${RUN_MODES:-bare plain serve page}   # part 4's modes (bare and plain are needed)
cargo build --release --quiet --bin cool-runner --example spawn_true
BIN=${BIN:-$(pwd)/target/release/cool-runner}   # BIN=... measures another build
SPAWN=$(pwd)/target/release/examples/spawn_true
WORK=$(mktemp -d)
SERVE=
cleanup() { [[ -n $SERVE ]] && kill "$SERVE" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ $ONLY != run ]]; then
printf 'Global: {repeat: 1}\nModule: /bin/true\nlr: 0.1\n---\nName: first\n' > first.yaml
"$BIN" run --exp first.yaml > /dev/null 2>&1
python3 - "$N" <<'PY'
import json, sqlite3, sys, time
n = int(sys.argv[1])
db = sqlite3.connect(".cool-runner/store.sqlite")
t = time.time()
rows = []
for i in range(n):
    lr = [0.001, 0.003, 0.01, 0.03, 0.1][i % 5]
    seed = i // 5 % 20
    exp = {"Name": f"e{i}", "Module": "python3 train.py", "lr": lr, "seed": seed,
           "model": {"layers": i % 7, "width": 256}, "REP": 0, "GLOBAL_REP": 0,
           "RND_IDX": 123456, "HOST": "bench"}
    acc = round(0.5 + lr * 3 + (seed % 7) * 0.01, 4)
    doc = dict(exp, ACC=acc, LOSS=round(1 - acc, 4), TIME_ELAPSED=1.0, STATUS="done",
               EXIT_CODE=0, STARTED_AT="2026-01-01T00:00:00.000+00:00",
               FINISHED_AT="2026-01-01T00:00:01.000+00:00", RUN_DIR=f"runs/e{i}")
    rows.append((f"id{i}", i, f"e{i}", "done", 0, "2026-01-01T00:00:00.000+00:00",
                 "2026-01-01T00:00:01.000+00:00", 1.0, "bench", "1", 1, 0,
                 json.dumps(exp), json.dumps({"ACC": acc}), json.dumps(doc), "{}", f"runs/e{i}"))
db.executemany("INSERT INTO runs (identity, idx, name, status, exit_code, started_at, finished_at,"
               " elapsed, host, pid, runner_pid, slot, experiment, results, document, parts, run_dir)"
               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
print(f"store: {n} runs written in {time.time() - t:.1f} s ({len(open('.cool-runner/store.sqlite','rb').read()) // 1_000_000} MB)")
PY

"$BIN" serve --store .cool-runner/store.sqlite --port 0 2> serve.err &
SERVE=$!
for _ in $(seq 100); do grep -q '^serving ' serve.err && break; sleep 0.05; done
URL=$(sed -n 's/^serving //p' serve.err)
python3 - "$URL" "$N" "$SERVE" <<'PY'
import http.client, json, socket, sqlite3, statistics, sys, time
url, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host = url.split("//")[1].strip("/")
addr, port = host.split(":")

def get(path):
    c = http.client.HTTPConnection(addr, int(port))
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    return time.perf_counter() - t, body, r.status

t0 = time.time()
while json.loads(get("/api/summary")[1])["total"] < n + 1:
    time.sleep(0.05)
print(f"serve: all {n + 1} runs read and parsed {time.time() - t0:.1f} s after it listened")
rss = int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
print(f"serve: resident memory {rss} MB")

db = sqlite3.connect(".cool-runner/store.sqlite")
added = [0]
def add_run():
    added[0] += 1
    i = n + added[0]
    doc = {"Name": f"x{i}", "lr": 0.1, "seed": 0, "ACC": 0.9, "STATUS": "done", "RUN_DIR": f"runs/x{i}"}
    db.execute("INSERT INTO runs (identity, idx, name, status, started_at, finished_at, elapsed, host,"
               " runner_pid, experiment, document, parts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               (f"x{i}", i, f"x{i}", "done", "2026-01-01T00:00:00.000+00:00",
                "2026-01-01T00:00:01.000+00:00", 1.0, "bench", 1, json.dumps(doc), json.dumps(doc), "{}"))
    db.commit()
    want = n + 1 + added[0]
    while json.loads(get("/api/summary")[1])["total"] < want:
        time.sleep(0.005)

def cold(path, rounds=7):
    """(first answer, median answer after a run was added): the first
    builds the query's selection and groups over all runs, the later ones
    bring them up to date with the new run only."""
    add_run()
    first = get(path)[0]
    times = []
    for _ in range(rounds):
        add_run()
        times.append(get(path)[0])
    return first * 1000, statistics.median(times) * 1000

first_json = cold("/api/runs?per=50")
first_html = cold("/")
group = cold("/api/runs?group_by=lr&agg=ACC,LOSS")
filt = cold("/api/runs?filter=exp.lr+%3E+0.02+%26%26+exp.ACC+%3E+0.6")
parallel = cold("/fragment/results?plot=parallel&axes=lr,seed,model.layers&y=ACC")
t = time.perf_counter()
groups = {}
for (text,) in db.execute("SELECT document FROM runs WHERE status = 'done'"):
    d = json.loads(text)
    g = groups.setdefault(d.get("lr"), [])
    if d.get("ACC") is not None:
        g.append(d["ACC"])
means = {k: statistics.fmean(v) for k, v in groups.items() if v}
plain = (time.perf_counter() - t) * 1000
print("answer times in ms: the first ask of a query (over all runs) / median of 7 asks, each after a run was added")
for label, (a, b) in [(f"first page, JSON (50 of {n} runs)", first_json),
                      ("the whole HTML page (table, form, plot)", first_html),
                      ("group-by lr, mean ± std of ACC, LOSS", group),
                      ("filter `exp.lr > 0.02 && exp.ACC > 0.6`", filt),
                      ("results part with parallel coordinates of lr, seed, model.layers", parallel)]:
    print(f"  {label:66s} {a:7.1f} / {b:6.1f}")
print(f"plain cost: Python reads every document from SQLite and groups by lr: {plain:.0f} ms "
      f"(group-by ratios {group[0] / plain:.3f} first, {group[1] / plain:.4f} after a run)")

# Event latency: commit -> event -> the fragment the page fetches.
s = socket.create_connection((addr, int(port)))
s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
f = s.makefile("rb")
def until(name):
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("event stream closed")
        if line.strip() == f"event: {name}".encode():
            return
until("hello")
lat = []
for _ in range(20):
    i = n + 1000 + len(lat)
    doc = {"Name": f"y{i}", "lr": 0.1, "seed": 1, "ACC": 0.8, "STATUS": "done"}
    t = time.perf_counter()
    db.execute("INSERT INTO runs (identity, idx, name, status, started_at, host, runner_pid, experiment,"
               " document, parts) VALUES (?,?,?,?,?,?,?,?,?,?)",
               (f"y{i}", i, f"y{i}", "done", "2026-01-01T00:00:00.000+00:00", "bench", 1,
                json.dumps(doc), json.dumps(doc), "{}"))
    db.commit()
    until("runs")
    _, body, _ = get("/fragment/results?reverse=1")
    assert f"y{i}".encode() in body
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.1)
lat.sort()
print(f"a finished run on an open page: median {statistics.median(lat):.0f} ms, "
      f"max {lat[-1]:.0f} ms (commit → event → results fragment, 20 runs; the poll is 50 ms)")

size = sum(len(get(p)[1]) for p in ["/", "/static/app.js", "/static/style.css", "/static/icon.svg"])
print(f"first view transfer: {size / 1000:.0f} KB (page with 50 rows and the plot, script, style, icon; uncompressed)")
PY
kill "$SERVE"; SERVE=
fi

# run --serve overhead.
if [[ $ONLY != web ]]; then
{
    printf 'Global: {repeat: 1}\nModule: /bin/true\nlr: 0.1\n'
    for ((i = 0; i < M; i++)); do printf -- '---\nName: e%d\nx: %d\n' "$i" "$i"; done
} > w.yaml
# One measurement: the CPU time (user + system, of the process and every
# child it waited for: `wait4`'s rusage) and the wall time of
#   bare   the bare spawn loop (examples/spawn_true.rs), M × /bin/true
#   plain  `run --exp w.yaml` (M experiments of /bin/true)
#   serve  `run --exp w.yaml --serve 0`, no page open
#   page   the same with a page open all along: a client that holds the
#          event stream and, on every event, fetches the parts the page's
#          script fetches (results with the plot, summary, running, queue);
#          its own CPU is not counted, the server's answers are.
#   once   (what a page open costs, split) one request, then none: the
#          server's threads started and the store read, nothing after
#   hold   a page that holds the event stream and fetches nothing
# CPU time is what decides here: this machine is shared, and wall times of
# the same run differ by ±15 % from one run to the next.
cat > one.py <<'PY'
import http.client, os, subprocess, sys, threading, time
mode, bin_, spawn, m = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "bare":
    cmd = [spawn, m, "/bin/true"]
else:
    cmd = [bin_, "run", "--exp", "w.yaml"] + ([] if mode == "plain" else ["--serve", "0"])
t0 = time.time()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
fetched = [0]
def get(addr, port, path):
    c = http.client.HTTPConnection(addr, port, timeout=5)
    c.request("GET", path)
    c.getresponse().read()
def follow(addr, port):
    if mode == "once":
        get(addr, port, "/")
        return
    try:
        c = http.client.HTTPConnection(addr, port, timeout=30)
        c.request("GET", "/api/events")
        r = c.getresponse()
        get(addr, port, "/")
        while True:
            line = r.fp.readline()
            if not line:
                return
            if mode == "page" and line.startswith(b"event: runs"):
                for part in ["/fragment/results", "/fragment/summary", "/fragment/running", "/fragment/queue"]:
                    get(addr, port, part)
                fetched[0] += 1
    except Exception:
        return
for line in p.stderr:
    if mode in ("page", "hold", "once") and line.startswith("serving "):
        addr, port = line.split()[1].split("//")[1].strip("/").split(":")
        threading.Thread(target=follow, args=(addr, int(port)), daemon=True).start()
_, status, ru = os.wait4(p.pid, 0)
wall = time.time() - t0
assert status == 0, (mode, status)
print(mode, f"{wall:.4f}", f"{ru.ru_utime:.4f}", f"{ru.ru_stime:.4f}", fetched[0])
PY
# Each run in a directory of its own, nothing deleted until the end, and
# the order of the modes rotated each round: deleting a run's directories
# just before the next run makes ext4 look through the recently deleted
# inodes on every mkdir (`recently_deleted`), a cost that fell on
# whichever mode came next.
read -r -a MODES <<< "$RUN_MODES"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#MODES[@]}; k++)); do
        mode=${MODES[(r + k) % ${#MODES[@]}]}
        mkdir "r$r-$mode" && cp w.yaml one.py "r$r-$mode/"
        (cd "r$r-$mode" && python3 one.py "$mode" "$BIN" "$SPAWN" "$M") | sed "s/^/$r /"
    done
done > rounds.txt
python3 - "$M" rounds.txt <<'PY'
import random, statistics, sys
m = int(sys.argv[1])
rounds = {}
for line in open(sys.argv[2]):
    r, mode, wall, user, system, events = line.split()
    rounds.setdefault(int(r), {})[mode] = (float(user) + float(system), float(wall), int(events))
rounds = [v for _, v in sorted(rounds.items())]
n = len(rounds)
med = statistics.median
print(f"run, {m} experiments (/bin/true), {n} interleaved rounds of: {', '.join(rounds[0])}")
random.seed(1)
for i, kind in [(0, "CPU (user+sys)"), (1, "wall")]:
    b, p = ([rd[mode][i] for rd in rounds] for mode in ("bare", "plain"))
    own = [(pp - bb) / m * 1000 for pp, bb in zip(p, b)]
    print(f"  {kind}: bare spawn loop {med(b):.2f} s, plain run {med(p):.2f} s; the runner's own overhead "
          f"{med(own):.3f} ms/experiment (rounds {min(own):.3f} to {max(own):.3f})")
    for mode, label in [("serve", "--serve, no page open"), ("once", "--serve, one request"),
                        ("hold", "--serve, events only"), ("page", "--serve, a page open")]:
        if mode not in rounds[0]:
            continue
        s = [rd[mode][i] for rd in rounds]
        # Per round: the time added against that round's own overhead.
        shares = sorted((ss - pp) / (pp - bb) * 100 for ss, pp, bb in zip(s, p, b))
        # The median share, and a 90 % interval of it by resampling rounds.
        boot = sorted(med(random.choices(shares, k=n)) for _ in range(2000))
        lo, hi = boot[100], boot[1899]
        added = med([(ss - pp) / m * 1000 for ss, pp in zip(s, p)])
        print(f"    {label:22s} adds {added:+.3f} ms/experiment, {med(shares):+.1f} % of the runner's own "
              f"overhead (90 % interval of the median {lo:+.1f} to {hi:+.1f} %; rounds {shares[0]:+.1f} to {shares[-1]:+.1f} %)")
if "page" in rounds[0]:
    events = [rd["page"][2] for rd in rounds]
    print(f"  the page client refreshed {med(events)} times a run (median)")
PY
# The server's own CPU, less noisy than wall times on a shared machine:
# perf's samples of the server's threads (web-0..3, web-poll) against
# those of the runner's (main thread, store-writer, signals, the forked
# children before they exec), in one `run --serve 0` of each kind.
if command -v perf > /dev/null && [[ ${PERF:-1} == 1 ]]; then
    for mode in serve page; do
        mkdir "perf-$mode" && cp w.yaml one.py "perf-$mode/"
        pushd "perf-$mode" > /dev/null
        perf record -q -F 4000 -o perf.data -- python3 one.py "$mode" "$BIN" "$SPAWN" "$M" > /dev/null 2>&1
        perf report -i perf.data --sort comm --stdio 2> /dev/null | python3 -c '
import re, sys
mode = sys.argv[1]
share = {}
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+(\S+)", line)
    if m:
        share[m.group(2)] = float(m.group(1))
web = sum(v for k, v in share.items() if k.startswith("web-"))
runner = sum(v for k, v in share.items()
             if k in ("cool-runner", "store-writer", "signals") or k.startswith("job-"))
label = {"serve": "no page open", "page": "a page open"}[mode]
print(f"  perf, --serve with {label}: the server threads {web:.2f}% of the samples, the runner {runner:.2f}%: "
      f"the server costs {web / runner * 100:.1f}% of the runner\x27s CPU")
' "$mode"
        popd > /dev/null
    done
fi
fi
