"""``python -m benchmarks [NAME ...]`` (``make bench``): run benchmarks, print a table and
write ``var/bench/results.json`` as ``{name: {ours, baseline, ratio, unit, ...}}``.

Each module in ``MODULES`` exposes ``BENCHMARKS = {name: callable}``; a callable returns
its result dict. ``--quick`` shrinks loads for a smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import traceback

from benchmarks import common

MODULES = [
    "benchmarks.ingest",
    "benchmarks.queries",
    "benchmarks.indicators",
    "benchmarks.orderflow",
    "benchmarks.charts",
]


def registry() -> dict:
    found = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
            found.update(module.BENCHMARKS)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
        except Exception as exc:  # one broken module must not hide the others
            print(f"warning: {name} could not be loaded: {exc!r}", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small loads, for a smoke run")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one, save it
    args = parser.parse_args(argv)
    benchmarks = registry()
    if args.one:
        try:
            common.save(args.one, benchmarks[args.one](quick=args.quick))
        except Exception:
            traceback.print_exc()
            return 1
        return 0
    unknown = set(args.names) - set(benchmarks)
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(benchmarks)}"
        )
    failed = 0
    print(f"{'benchmark':<24}{'ours':>14}{'baseline':>14}{'ratio':>9}  unit / target")
    for name in args.names or list(benchmarks):
        # Each benchmark runs in a fresh process: it configures Django for its own
        # databases, which a process can do only once.
        argv = [sys.executable, "-m", "benchmarks", "--one", name]
        if args.quick:
            argv.append("--quick")
        if subprocess.run(argv, cwd=common.ROOT, check=False).returncode:
            failed += 1
            print(f"{name:<24}{'FAILED':>14}", flush=True)
            continue
        result = json.loads(common.RESULTS.read_text())[name]
        print(
            f"{name:<24}{result['ours']:>14}{result['baseline']:>14}{result['ratio']:>9}  "
            f"{result['unit']} / {result.get('target', '')}",
            flush=True,
        )
        for key, value in result.items():
            if key not in ("ours", "baseline", "ratio", "unit", "target"):
                print(f"{'':<26}{key}: {value}")
    print(f"results: {common.RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
