"""Driver of bench/queue.sh: see there. Arguments: WORK BIN SPAWN K ROUNDS OLD OLD_K."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

work, new_bin, spawn, k, rounds, old_bin, old_k = sys.argv[1:8]
k, rounds, old_k = int(k), int(rounds), int(old_k)
MARK = "--- # expanded by cool-runner\n"

text = open(os.path.join(work, "expanded.yaml")).read()
# One document per experiment, each under the runner's mark.
docs = [MARK + d.lstrip("\n") for d in re.split(r"(?m)^---\n", text) if d.strip()]
STOP = "---\nName: stop\nModule: /bin/false\n"
SETTINGS = "Global: {queue: q.yaml}\nModule: /bin/true\nYamlLog: logs/log.yaml\n---\nName: unused\n"


def queue_text(head, pending):
    return "# bench queue\n" + "".join(docs[:head]) + STOP + "".join(docs[k:k + pending])


def plain(doc):
    # An expanded document as an experiment of its own (its copies are
    # there already: `Repeat: 1`).
    return re.sub(r"(?m)^Repeat: .*$", "Repeat: 1", doc.replace(MARK, "---\n"))


def memory_text(head, pending):
    # The same documents as an experiment file without a queue file.
    body = "".join(plain(d) for d in docs[:head]) + STOP
    body += "".join(plain(d) for d in docs[k:k + pending])
    return "Global: {}\n" + body


def run(binary, directory, exp_text, queue=None, timed=False):
    """Run once in a fresh directory: (seconds, wchar, write_bytes, max RSS KiB)."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    with open(os.path.join(directory, "w.yaml"), "w") as f:
        f.write(exp_text)
    if queue is not None:
        with open(os.path.join(directory, "q.yaml"), "w") as f:
            f.write(queue)
    args = [binary, "run", "--exp", "w.yaml", "--fail-fast", "--no-store"]
    if timed:
        args = ["/usr/bin/time", "-f", "%e %M"] + args
    err = open(os.path.join(directory, "runner.err"), "w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=directory, stdout=subprocess.DEVNULL, stderr=err)
    # Wait for the exit without reaping, then read its I/O counters.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    elapsed = time.perf_counter() - t0
    io = {}
    try:
        for line in open(f"/proc/{proc.pid}/io"):
            key, value = line.split(":")
            io[key] = int(value)
    except OSError:
        pass
    proc.wait()
    rss = 0
    if timed:
        err.seek(0)
        last = err.read().strip().splitlines()[-1].split()
        elapsed, rss = float(last[0]), int(last[1])
    return elapsed, io.get("wchar", 0), io.get("write_bytes", 0), rss


def per_experiment(binary, name, pending, head, memory=False):
    directory = os.path.join(work, name)
    if memory:
        full = run(binary, directory, memory_text(head, pending))
        base = run(binary, directory, memory_text(0, pending))
    else:
        full = run(binary, directory, SETTINGS, queue_text(head, pending))
        base = run(binary, directory, SETTINGS, queue_text(0, pending))
    ms = (full[0] - base[0]) / head * 1000
    return ms, (full[1] - base[1]) / head, (full[2] - base[2]) / head


def bare():
    out = subprocess.run([spawn, str(k), "/bin/true"], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0]) / k * 1000


variants = [
    ("queue file, 1,000 pending", new_bin, 1000, k, False),
    ("queue file, 100,000 pending", new_bin, 100000, k, False),
    ("in-memory queue, 1,000 pending", new_bin, 1000, k, True),
]
if old_bin:
    variants += [
        ("OLD queue file, 1,000 pending", old_bin, 1000, k, False),
        (f"OLD queue file, 100,000 pending ({old_k} exp.)", old_bin, 100000, old_k, False),
    ]
results = {v[0]: [] for v in variants}
bares = []
for r in range(rounds):
    bares.append(bare())
    for name, binary, pending, head, memory in variants:
        if name.startswith("OLD") and "100,000" in name and r > 0:
            continue  # about a minute a round: one round
        results[name].append(per_experiment(binary, f"v{len(results[name])}", pending, head, memory))
        print(f"  round {r}: {name}: {results[name][-1][0]:.3f} ms/exp", flush=True)

spawn_ms = statistics.median(bares)
print(f"\nbare spawn + wait of /bin/true: median {spawn_ms:.3f} ms ({rounds} rounds of {k})")
print(f"{'':48} {'ms/exp':>8} {'overhead':>9} {'range':>15} {'wchar/exp':>10} {'disk/exp':>9}")
medians = {}
for name, rows in results.items():
    ms = statistics.median(r[0] for r in rows)
    medians[name] = ms
    lo, hi = min(r[0] for r in rows), max(r[0] for r in rows)
    wchar = statistics.median(r[1] for r in rows)
    disk = statistics.median(r[2] for r in rows)
    print(f"{name:48} {ms:8.3f} {ms - spawn_ms:9.3f} {lo:7.3f}-{hi:7.3f} {wchar / 1024:8.2f}KB {disk / 1024:7.2f}KB")
f1, f100, mem = (medians[v[0]] for v in variants[:3])
print(f"\nratio 100,000 / 1,000 pending: {f100 / f1:.2f} per experiment, "
      f"{(f100 - spawn_ms) / (f1 - spawn_ms):.2f} overhead above the spawn (target <= 1.5)")
print(f"ratio queue file (100,000) / in-memory: {f100 / mem:.2f} per experiment, "
      f"{(f100 - spawn_ms) / (mem - spawn_ms):.2f} overhead above the spawn (target <= 1.3)")

def resume(binary):
    """Resume 100,000 pending: (seconds to the first start, seconds in all,
    peak RSS in MB), the first experiment failing at once (`--fail-fast`)."""
    directory = os.path.join(work, "resume")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    with open(os.path.join(directory, "w.yaml"), "w") as f:
        f.write(SETTINGS)
    with open(os.path.join(directory, "q.yaml"), "w") as f:
        f.write(queue_text(0, 100000))
        os.fsync(f.fileno())
    timing = os.path.join(directory, "time.txt")
    args = ["/usr/bin/time", "-f", "%e %M", "-o", timing,
            binary, "run", "--exp", "w.yaml", "--fail-fast", "--no-store"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = None
    for line in proc.stderr:
        if ready is None and b"start `stop`" in line:
            ready = time.perf_counter() - t0
    proc.wait()
    total, rss = open(timing).read().split()[-2:]
    return ready or float("nan"), float(total), int(rss) / 1024


print("\nresume of 100,000 pending (66 MB; median of 3; ready = until the first module starts,"
      " all = with the final rewrite of the file; /usr/bin/time):")
for label, binary in [("new", new_bin)] + ([("OLD", old_bin)] if old_bin else []):
    rows = [resume(binary) for _ in range(3 if label == "new" else 1)]
    ready, total, rss = (statistics.median(r[i] for r in rows) for i in range(3))
    print(f"  {label}: ready in {ready:.2f} s, {total:.2f} s in all, peak RSS {rss:.0f} MB"
          f" (target < 2 s, < 300 MB)")
