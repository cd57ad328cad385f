"""The quick benchmark set (`make bench`): each script's --quick variant in turn, their tables as
they come, then every figure in one table (figure | goal | measured | baseline | ratio | ok).

The full runs (more repeats, the capacity searches) are the scripts themselves without --quick;
see docs/benchmarks.md. Every script cleans up its processes, databases and Redis db 7.

    .venv/bin/python bench/run_quick.py [--only pipeline_cpu,ws_latency] [--with-capacity]
        [--json figures.jsonl]

About seven minutes on a 2-core machine (seeding the 1,000,000 alerts is one of them).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH_DIR, PYTHON, ROOT, print_table, say

QUICK = {
    "pipeline_cpu": ["--quick"],
    "ws_latency": ["--quick"],
    "e2e_latency": ["--quick"],
    "alerts_scale": ["--quick"],
}
# One step each at the still-scene goal counts (12 Haar, 16 YuNet): about 2.5 more minutes.
CAPACITY = ["--quick", "--configs", "haar-still,yunet-still", "--window", "15"]


def run_script(name: str, extra: list[str]) -> tuple[list[dict], int, float]:
    """Run bench/<name>.py, echoing its output; (figures it printed, exit code, seconds)."""
    say(f"== {name} {' '.join(extra)}")
    started = time.monotonic()
    proc = subprocess.Popen(
        [PYTHON, str(BENCH_DIR / f"{name}.py"), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    figures = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith('{"kind": "figure"'):
                figures.append(json.loads(line))
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(60)
        raise
    return figures, code, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(QUICK)}, camera_capacity")
    parser.add_argument("--json", type=Path, help="also write the figures here (JSON lines)")
    parser.add_argument(
        "--with-capacity", action="store_true", help="also check the still-scene camera goals"
    )
    args = parser.parse_args(argv)
    scripts = dict(QUICK)
    if args.with_capacity:
        scripts["camera_capacity"] = CAPACITY
    names = args.only.split(",") if args.only else list(scripts)
    unknown = [name for name in names if name not in scripts]
    if unknown:
        parser.error(f"unknown scripts: {', '.join(unknown)}")

    figures: list[dict] = []
    failures: list[str] = []
    durations = []
    for name in names:
        found, code, seconds = run_script(name, scripts[name])
        figures += found
        durations.append([name, f"{seconds:.0f}", code])
        if code != 0:
            failures.append(f"{name} exited with {code}")

    print("\nFigures (quick set; docs/benchmarks.md has the full runs and the method)")
    print_table(
        ["figure", "goal", "measured", "baseline", "ratio", "ok"],
        [
            [f["figure"], f["goal"], f["measured"], f["baseline"], f["ratio"],
             {True: "yes", False: "NO", None: "-"}[f["ok"]]]
            for f in figures
        ],
    )  # fmt: skip
    print()
    print_table(["script", "seconds", "exit code"], durations)
    if args.json:
        args.json.write_text("".join(json.dumps(f) + "\n" for f in figures))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
