"""Speed and memory of synthetic data generation (``handpose.data.synthetic.generate``).

Generates COUNT frames of 320x240 RGB + depth + all labels to disk with W workers and reports frames/s (wall clock
from the call to the finished index, worker start-up included), bytes per frame, and the peak resident memory of
the whole process tree (the generating process and its workers, sampled every 0.2 s from /proc).

    python benchmarks/synth_speed.py --count 4000 --workers 2
    python benchmarks/synth_speed.py --count 100000 --workers 2 --out /tmp/synth100k   # the memory figure
    PYTHONPATH=/tmp/old/src python benchmarks/synth_speed.py   # another checkout's generator (alternate the two)

The machine is shared with other work: run it more than once and quote the conditions (load average is printed).
The workers' CPU time per frame (``worker_cpu_ms_per_frame``, start-up included) is printed too; to compare two
versions of the generator, alternate runs of both in one session rather than comparing against older figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> tuple[int, int]:
    """(total RSS of the process tree, largest single process RSS) in KiB."""
    stack, seen, total, largest = [root], set(), 0, 0
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss = _rss_kib(pid)
        total += rss
        largest = max(largest, rss)
        stack += _children(pid)
    return total, largest


class PeakMemory:
    """Samples the RSS of this process and its descendants in a background thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, single = tree_rss_kib(os.getpid())
            self.peak_total = max(self.peak_total, total)
            self.peak_single = max(self.peak_single, single)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--modality", default="rgb,depth")
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from handpose.data.synthetic import generate

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth_speed_"))
    if (out / "train").exists():
        print(f"{out}/train exists: remove it first (a resumed run would not measure rendering)", file=sys.stderr)
        return 2
    load0 = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        summary = generate(
            out, args.count, preset=args.preset, modality=args.modality, workers=args.workers, progress=args.progress
        )
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers (ended with the pool)
    worker_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    figures = {
        "count": args.count,
        "workers": args.workers,
        "preset": args.preset,
        "modality": args.modality,
        "image_size": "320x240",
        "seconds": round(wall, 2),
        "frames_per_second": round(args.count / wall, 1),
        "bytes_per_frame": round(summary["bytes"] / args.count),
        "peak_rss_tree_mib": round(mem.peak_total / 1024, 1),
        "peak_rss_single_process_mib": round(mem.peak_single / 1024, 1),
        "worker_cpu_ms_per_frame": round(1000 * worker_cpu / args.count, 2) if args.workers > 1 else None,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load0],
        "load_average_after": [round(x, 2) for x in load1],
    }
    print(json.dumps(figures, indent=2))
    print(
        f"| {args.count} | {args.workers} | {figures['frames_per_second']} | {figures['bytes_per_frame'] / 1e3:.1f} KB"
        f" | {figures['peak_rss_tree_mib']} MiB | {load0[0]:.1f} / {load1[0]:.1f} |"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if not args.keep and not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
