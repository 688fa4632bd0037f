#!/usr/bin/env python3
"""Minimal Python equivalent of `cool-runner filter` (the benchmark's baseline).

    bench/py_filter.py LOG.yaml

Two lambda filters and two sorts, as the original filter.py did, then dump.
Set PY_YAML_C=1 to use libyaml's C loader/dumper instead.
"""
import os
import sys

import yaml

Loader = yaml.CSafeLoader if os.environ.get("PY_YAML_C") else yaml.SafeLoader
Dumper = yaml.CSafeDumper if os.environ.get("PY_YAML_C") else yaml.SafeDumper

with open(sys.argv[1]) as f:
    exps = list(yaml.load_all(f, Loader=Loader))
filters = [lambda exp: 'ACC' in exp and exp['ACC'] > 0.9,
           lambda exp: exp['sparsity'] >= 0.5]
sorts = [lambda exp: exp['TIME_ELAPSED'], lambda exp: exp['Name']]
exps = [e for e in exps if all(f(e) for f in filters)]
for s in sorts:
    exps = sorted(exps, key=s)
yaml.dump_all(exps, sys.stdout, Dumper=Dumper, sort_keys=False, explicit_start=True)
print(f"{len(exps)} documents", file=sys.stderr)
