#!/usr/bin/env python3
"""Minimal Python equivalent of `cool-runner collect` (the benchmark's baseline).

    bench/py_collect.py ROOT OUT.yaml

os.walk + yaml.safe_load_all + yaml.safe_dump_all, as the original
collect.py did. Set PY_YAML_C=1 to use libyaml's C loader/dumper instead.
"""
import os
import sys

import yaml

Loader = yaml.CSafeLoader if os.environ.get("PY_YAML_C") else yaml.SafeLoader
Dumper = yaml.CSafeDumper if os.environ.get("PY_YAML_C") else yaml.SafeDumper

root, out = sys.argv[1], sys.argv[2]
docs = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(dirpath, name)) as f:
                docs.extend(d for d in yaml.load_all(f, Loader=Loader) if isinstance(d, dict))
with open(out, "w") as f:
    yaml.dump_all(docs, f, Dumper=Dumper, sort_keys=False, explicit_start=True)
print(f"{len(docs)} documents")
