"""Issues "pipeline" and "performance": how many 720p 15 fps cameras one machine sustains with
every output >= 14 fps, for the real pipeline and for the floor measured in the same run.

Searches the camera count of each configuration (one step = N cameras started with their starts
spread over the scene's period, a warm-up, then one measured window) and prints every step, which
is the curve cameras -> CPU %, output fps and alert latency (face appears in the video -> the
pipeline's AlertEvent; see camera_load.alert_latencies for how the appearance time is known).

Configurations: the floor (ffmpeg decode+encode of each camera, alone and with the bare detector
at 500 ms); the pipeline on a busy scene with motion gating off (the detector every 500 ms); the
pipeline on a mostly-still scene with motion gating on, and the same count with gating off.

    .venv/bin/python bench/camera_capacity.py [--configs haar-still,yunet-still] [--quick]
"""

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.camera_load import HEADERS, CameraBench, Scene, StepResult, scene
from bench.common import (
    DEFAULT_MODEL,
    Figure,
    detectors_available,
    fmt_ratio,
    median,
    percentile,
    print_table,
    say,
    terminate_on_signals,
)

# name: (load, detector, motion gating, scene)
CONFIGS: dict[str, tuple[str, str, bool, str]] = {
    "floor-ffmpeg": ("ffmpeg", "-", False, "busy"),
    "floor-haar": ("floor", "haar", False, "busy"),
    "haar-busy": ("pipeline", "haar", False, "busy"),
    "floor-yunet": ("floor", "yunet", False, "busy"),
    "yunet-busy": ("pipeline", "yunet", False, "busy"),
    "haar-still": ("pipeline", "haar", True, "still"),
    "yunet-still": ("pipeline", "yunet", True, "still"),
}
STILL_GOALS = {"haar": 12, "yunet": 16}
# The machine's CPU a first guess aims at (of 200 %): the camera simulator and receivers need some.
TARGET_CPU = 180.0


def search(
    run: Callable[[int], StepResult], first: int, max_cameras: int, max_steps: int
) -> tuple[int, list[StepResult]]:
    """The largest camera count that passed, probing `first` then guessing from its CPU use."""
    passed, failed = 0, max_cameras + 1
    steps: list[StepResult] = []
    n = first
    while len(steps) < max_steps:
        step = run(n)
        steps.append(step)
        if step.ok:
            passed = max(passed, n)
        else:
            failed = min(failed, n)
        if failed - passed <= 1 or failed <= passed or passed == max_cameras:
            break
        if len(steps) == 1 and step.ok and step.cpu_per_camera > 0:
            per_camera = step.cpu_per_camera + step.harness_cpu_pct / step.cameras
            n = int(TARGET_CPU / per_camera)
        elif failed > max_cameras:
            n = max(n + 1, round(n * 1.3))
        elif passed == 0:
            n = min(n - 1, round(n * 0.7))
        else:
            n = (passed + failed) // 2
        n = max(passed + 1, min(n, failed - 1, max_cameras))
        if n < 1:
            break
    return passed, steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated, of: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--quick", action="store_true", help="only the still-scene goal counts")
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per step")
    parser.add_argument("--max-steps", type=int, default=5, help="steps per configuration")
    parser.add_argument("--max-cameras", type=int, default=32)
    parser.add_argument("--first", type=int, default=2, help="camera count of the first step")
    parser.add_argument("--interval-ms", type=int, default=500)
    parser.add_argument(
        "--processes", type=int, default=1, help="host processes for the pipelines (default: one)"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations: {', '.join(unknown)}")
    detectors = detectors_available(args.model)
    names = [name for name in names if CONFIGS[name][1] in (*detectors, "-")]
    terminate_on_signals()
    command = ".venv/bin/python bench/camera_capacity.py"
    if args.processes > 1:
        command += f" --processes {args.processes}"

    scenes: dict[str, Scene] = {}
    capacity: dict[str, int] = {}
    steps: dict[str, list[StepResult]] = {}
    gating_off: dict[str, StepResult] = {}
    for scene_name in ("busy", "still"):
        wanted = [n for n in names if CONFIGS[n][3] == scene_name]
        if not wanted:
            continue
        scenes[scene_name] = scene(scene_name)
        with CameraBench(
            scenes[scene_name], args.max_cameras, args.model, window_s=args.window
        ) as bench:
            for name in wanted:
                load, detector, gating, _ = CONFIGS[name]

                def run(n: int, load=load, detector=detector, gating=gating) -> StepResult:
                    return bench.run(load, n, detector, gating, args.interval_ms, args.processes)

                if args.quick:
                    # Only whether the goal count holds: one step each.
                    goal = STILL_GOALS.get(detector, args.first)
                    step = run(goal)
                    capacity[name], steps[name] = (goal if step.ok else 0), [step]
                else:
                    capacity[name], steps[name] = search(
                        run, args.first, args.max_cameras, args.max_steps
                    )
                say(f"{name}: capacity {capacity[name]}")
                if gating and capacity[name] and not args.quick:
                    gating_off[name] = bench.run(
                        load, capacity[name], detector, False, args.interval_ms, args.processes
                    )

    print("\nSteps (the curve): cameras -> CPU, output fps, alert latency")
    rows = []
    for name in names:
        for step in sorted(steps.get(name, []), key=lambda s: s.cameras):
            rows.append([name, *step.row()])
    for name, step in gating_off.items():
        rows.append([f"{name} gating off", *step.row()])
    print_table(["config", *HEADERS], rows)

    print("\nCapacity (cameras with every output >= 14 fps) and the CPU-based projection")
    print_table(
        ["config", "cameras (measured)", "cpu%/camera", "projected cameras (200% / cpu%/camera)"],
        [[name, capacity[name], *projection(steps[name])] for name in names],
    )
    where = f" ({args.processes} processes)" if args.processes > 1 else ""
    emit_figures(capacity, steps, gating_off, command + (" --quick" if args.quick else ""), where)
    return 0


def emit_figures(
    capacity: dict[str, int],
    steps: dict[str, list[StepResult]],
    gating_off: dict[str, StepResult],
    command: str,
    where: str = "",
) -> None:
    for detector in ("haar", "yunet"):
        busy, floor = f"{detector}-busy", f"floor-{detector}"
        if busy in capacity and floor in capacity:
            n, base = capacity[busy], capacity[floor]
            Figure(
                figure=f"cameras per 2-core machine, busy scene, {detector} every 500 ms{where}",
                goal=">= 90% of the floor's count",
                measured=f"{n} cameras",
                baseline=f"floor {base} (ffmpeg + bare {detector})",
                ratio=fmt_ratio(n, base),
                command=command + f" --configs {floor},{busy}",
                ok=bool(base) and n >= 0.9 * base,
                details={
                    "machine_busy_pct": _busy(steps[busy]),
                    "projected": projection(steps[busy])[1],
                    "floor_projected": projection(steps[floor])[1],
                },
            ).emit()
        still = f"{detector}-still"
        if still in capacity:
            n, goal = capacity[still], STILL_GOALS[detector]
            base = capacity.get("floor-ffmpeg")
            off = gating_off.get(still)
            latencies = [x for s in steps[still] if s.ok for x in s.latencies_s]
            Figure(
                figure=f"cameras per 2-core machine, mostly-still scene, {detector}, gating on{where}",
                goal=f">= {goal} cameras, every output >= 14 fps",
                measured=f"{n} cameras",
                baseline=f"floor-ffmpeg {base}" if base is not None else "not measured",
                ratio=fmt_ratio(n, base) if base else "n/a",
                command=command + f" --configs floor-ffmpeg,{still}",
                ok=n >= goal,
                details={
                    "gating_off_same_count": off.record() if off else None,
                    "alert_latency_ms_p50": percentile(latencies, 50) * 1000,
                    "alert_latency_ms_p95": percentile(latencies, 95) * 1000,
                    "alert_latency_samples": len(latencies),
                    "machine_busy_pct": _busy(steps[still]),
                    "projected": projection(steps[still])[1],
                },
            ).emit()


def projection(steps: list[StepResult]) -> tuple[float, float]:
    """(CPU % per camera, cameras that 200 % would hold) from the passing steps' CPU use: CPU
    time is far less disturbed by other work on the machine than the measured count. Counts the
    load only, not the camera simulator and receivers standing in for cameras and MediaMTX."""
    per_camera = [s.cpu_per_camera for s in steps if s.ok and s.load != "detector"]
    if not per_camera:
        return math.nan, math.nan
    value = median(per_camera)
    return value, math.floor(200 / value)


def _busy(steps: list[StepResult]) -> float:
    values = [s.machine_busy_pct for s in steps if not math.isnan(s.machine_busy_pct)]
    return median(values) if values else math.nan


if __name__ == "__main__":
    sys.exit(main())
