"""Driver of bench/crash_campaign.sh: see there. Arguments: WORK BIN KILLS N SEED."""
import collections
import os
import random
import subprocess
import sys
import time

import yaml

work, binary, kills, n, seed = sys.argv[1:6]
kills, n = int(kills), int(n)
rng = random.Random(int(seed))

MODULE = """#!/bin/bash
name=$(sed -n 's/^  "Name": "\\(.*\\)",$/\\1/p' "$COOL_RUNNER_EXPERIMENT")
nap=$(sed -n 's/^  "nap": \\(.*\\),$/\\1/p' "$COOL_RUNNER_EXPERIMENT")
echo "start $name $$ $EPOCHREALTIME" >> events.txt
sleep "$nap"
echo "end $name $$ $EPOCHREALTIME" >> events.txt
"""


def events(directory):
    try:
        return [line.split() for line in open(os.path.join(directory, "events.txt")) if line.strip()]
    except FileNotFoundError:
        return []


def log_documents(directory):
    """(names of whole documents, number of half documents)."""
    try:
        text = open(os.path.join(directory, "log.yaml")).read()
    except FileNotFoundError:
        return [], 0
    names, half = [], 0
    for chunk in text.split("\n---")[0:]:
        chunk = chunk.strip()
        if not chunk or chunk == "---":
            continue
        try:
            doc = yaml.safe_load(chunk.lstrip("-\n"))
        except yaml.YAMLError:
            half += 1
            continue
        if not isinstance(doc, dict) or "STATUS" not in doc:
            half += 1
            continue
        names.append(doc["Name"])
    return names, half


def campaign(jobs, store):
    directory = os.path.join(work, f"j{jobs}-{'store' if store else 'nostore'}")
    os.makedirs(directory)
    with open(os.path.join(directory, "m.sh"), "w") as f:
        f.write(MODULE)
    os.chmod(os.path.join(directory, "m.sh"), 0o755)
    with open(os.path.join(directory, "e.yaml"), "w") as f:
        f.write("Global: {queue: q.yaml, store: store.sqlite}\nModule: ./m.sh\nYamlLog: log.yaml\n")
        for i in range(n):
            f.write(f"---\nName: e{i:05d}\nnap: {rng.uniform(0.01, 0.03):.3f}\n")
    args = [binary, "run", "--exp", "e.yaml", "-j", str(jobs)] + ([] if store else ["--no-store"])
    allowed = collections.Counter()  # starts allowed beyond the first
    at_kill = []  # (names started, not logged) at each kill
    kill_times = []  # when each runner was killed
    done_kills = 0
    seen_starts, seen_logs = collections.Counter(), collections.Counter()
    finished = False
    while not finished:
        proc = subprocess.Popen(args, cwd=directory, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(directory, "runner.err"), "a"))
        if done_kills < kills:
            time.sleep(rng.uniform(0.02, 0.25))
        if proc.poll() is not None or done_kills >= kills:
            proc.wait()
            finished = True
            break
        kill_times.append(time.time())
        proc.kill()
        proc.wait()
        done_kills += 1
        # Started by this runner and not logged by it: running at the kill.
        logged = collections.Counter(log_documents(directory)[0])
        started = collections.Counter(e[1] for e in events(directory) if e[0] == "start")
        new_starts, new_logs = started - seen_starts, logged - seen_logs
        running = [name for name, count in new_starts.items() if count > new_logs[name]]
        seen_starts, seen_logs = started, logged
        for name in running:
            allowed[name] += 1
        at_kill.append(running)
        time.sleep(0.05)
    # Let orphans (if any) end, then look.
    time.sleep(0.5)
    evs = events(directory)
    starts = collections.Counter(e[1] for e in evs if e[0] == "start")
    names, half = log_documents(directory)
    logged = collections.Counter(names)
    everything = [f"e{i:05d}" for i in range(n)]
    lost = [x for x in everything if logged[x] == 0]
    twice = [x for x in everything if starts[x] > 1 + allowed[x]]
    dups = sum(c - 1 for c in logged.values() if c > 1)
    running_at_kill = sum(len(r) for r in at_kill)
    orphaned = sum(1 for x in everything if starts[x] > 0 and logged[x] == 0)
    # A module that was running at a kill and still wrote its end ran on
    # unwatched after its runner died (the runner now ends it at once).
    started_at = {(e[1], e[2]): float(e[3]) for e in evs if e[0] == "start" and len(e) > 3}
    for e in evs:
        if e[0] == "end" and len(e) > 3 and (e[1], e[2]) in started_at:
            t0, t1 = started_at[(e[1], e[2])], float(e[3])
            # 5 ms: the end time is read (bash's $EPOCHREALTIME) just after
            # the nap; a module that ended by itself at the kill is not an
            # orphan.
            orphaned += any(t0 < k and k + 0.005 < t1 for k in kill_times)
    leftovers = [f for f in os.listdir(directory) if f.startswith((".q.yaml", "q.yaml"))]
    print(f"-j {jobs}, store {'on ' if store else 'off'}: {done_kills} kills, {n} experiments, "
          f"{running_at_kill} running at a kill | lost {len(lost)}, run twice {len(twice)}, "
          f"dup docs {dups}, half docs {half}, orphaned {orphaned}"
          + (f" | left: {leftovers}" if leftovers else ""), flush=True)
    if lost or twice:
        print(f"    lost {lost[:5]} twice {twice[:5]}")


for jobs in (1, 2):
    for store in (False, True):
        campaign(jobs, store)
