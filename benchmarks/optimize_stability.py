"""Does `edgekit optimize` give the same answer twice? Three consecutive digits runs, each in a fresh output folder
(nothing reused), must give the same recommendation and the same reason; the latency spread of every variant is
printed for BENCHMARKS.md.

    python benchmarks/optimize_stability.py [--runs 3] [--out bench-out/stability]

Exit status 1 when the runs disagree. Latency on a shared machine is noisy: the load average is printed beside each
run, and the reason quotes verdicts (faster / no measurable difference / slower), never a latency figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(out: Path, extra: list[str]) -> tuple[dict, float, int]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgekit", "optimize", "samples/digits/model.h5", *extra,
                           "-o", str(out), "--json"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3, 4):
        sys.exit(f"edgekit optimize failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads((out / "results.json").read_text()), seconds, done.returncode


def spread_rows(results: dict) -> list[str]:
    rows = []
    for v in results["variants"]:
        for a in v.get("artifacts", []):
            lat = a["measurement"]["latency_ms"]
            ci = lat.get("ratio_ci95")
            vs = "baseline" if lat.get("verdict") == "baseline" else (
                f"{lat['ratio']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] {lat['verdict']}")
            rows.append(f"| {v['name']}/{a['format']} | {lat['p50'] * 1000:.1f} | {lat['iqr'] * 1000:.1f} | "
                        f"{lat['runs']} | {vs} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "stability")
    ap.add_argument("--no-data", action="store_true", help="run without --data (ranked by fidelity)")
    args = ap.parse_args()
    extra = [] if args.no_data else ["--data", "samples/digits/data.npz"]
    answers = []
    for i in range(args.runs):
        load = os.getloadavg()[0]
        results, seconds, code = run_once(args.out / f"run{i + 1}", extra)
        ranking = results["ranking"]
        answers.append((ranking["recommended"], ranking["reason"]))
        lat = results.get("latency") or {}
        print(f"\n### run {i + 1}: {seconds:.0f} s, exit {code}, 1-min load average {load:.2f} before, "
              f"{lat.get('load_average_after')} after, on {lat.get('cores')} cores, CPU share of the timed runs "
              f"{100 * (lat.get('cpu_share') or 0):.0f}%")
        print(f"recommended: {ranking['recommended']}\nreason: {ranking['reason']}")
        for w in results.get("warnings", []):
            print(f"warning: {w}")
        print("\n| variant/format | median µs | IQR µs | runs | ratio to fp32/tflite [95% CI], verdict |")
        print("|---|---|---|---|---|")
        print("\n".join(spread_rows(results)), flush=True)
    same = len(set(answers)) == 1
    print(f"\n{'SAME' if same else 'DIFFERENT'} recommendation and reason in {args.runs} runs")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
