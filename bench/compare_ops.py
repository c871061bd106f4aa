"""The speed table of issue 2: each fastaug op as a ratio against a reference, one run.

Usage::

    python bench/compare_ops.py [--batch 256] [--size 224] [--repeat 7] [--json out.json]

Every row times fastaug and its reference on the same :class:`workloads.Workload`
(same images, same random parameters, output buffers preallocated for both), single
threaded everywhere (``cv2.setNumThreads(1)``, ``threads=1``) except the two scaling
rows. Each group of callables is warmed up, then timed ``--repeat`` times, interleaved
and in rotating order so that a change in machine load hits every callable alike. The
table shows medians with the (min-max) range; the ratio is reference median / fastaug
median, so higher is better for fastaug in every row.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402
from adapters import copyto_adapter, fastaug_adapter, opencv_adapter, opencv_variants  # noqa: E402
from workloads import Workload, make_workload  # noqa: E402

from fastaug.bench.timing import OtherLoad, measure, met_cell  # noqa: E402
from fastaug.bench.timing import cpu_model as _cpu_model  # noqa: E402
from fastaug.bench.timing import cpus as _cpus  # noqa: E402
from fastaug.bench.timing import loadavg as _loadavg  # noqa: E402
from fastaug.bench.timing import stats as _stats  # noqa: E402

try:
    import cv2
except ImportError:
    cv2 = None


def _agreement(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return {"mean_abs_diff": float(d.mean()), "max_abs_diff": float(d.max())}


# ---- the rows -----------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: ``subject`` against ``reference`` in one timing group."""

    operation: str
    subject: str
    reference: str
    reference_label: str
    target: float | None
    note: str = ""


@dataclass
class Group:
    """Callables timed together, and the rows read from their times."""

    name: str
    fns: dict
    rows: list
    checks: tuple = ()  # (subject, reference) pairs whose outputs must agree
    info: dict | None = None  # extra facts for the JSON
    close: Callable[[], None] | None = None  # releases what the callables hold


def _pick_opencv_variant(work: Workload, repeat: int) -> tuple[str | None, dict]:
    """The fastest OpenCV way to do ``work`` (several for the normalising ones)."""
    variants = opencv_variants(work)
    if len(variants) <= 1:
        return (variants[0] if variants else None), {}
    times, _ = measure({v: opencv_adapter(work, v) for v in variants}, max(3, repeat // 2))
    medians = {v: float(np.median(t) * 1e3) for v, t in times.items()}
    return min(medians, key=medians.get), medians


_NO_CV2 = "OpenCV not installed"


def _vs_opencv(work: Workload, operation: str, label: str, target: float) -> Group:
    fns = {"fastaug": fastaug_adapter(work)}
    if cv2 is None:
        return Group(work.name, fns, [Row(operation, "fastaug", "cv2", label, target, _NO_CV2)])
    fns["cv2"] = opencv_adapter(work)
    return Group(work.name, fns, [Row(operation, "fastaug", "cv2", label, target)],
                 checks=(("fastaug", "cv2"),))


def _vs_floor(work: Workload, operation: str, target: float, cv_label: str) -> Group:
    fns = {"fastaug": fastaug_adapter(work), "copyto": copyto_adapter(work)}
    rows = [Row(operation, "fastaug", "copyto", "np.copyto (memory floor)", target)]
    if cv2 is None:
        return Group(work.name, fns, rows)
    fns["cv2"] = opencv_adapter(work)
    rows.append(Row(operation, "fastaug", "cv2", cv_label, None, "for reference"))
    return Group(work.name, fns, rows, checks=(("fastaug", "cv2"),))


def _vs_opencv_chain(work: Workload, operation: str, target: float | None,
                     repeat: int) -> Group:
    fns = {"fastaug": fastaug_adapter(work)}
    if cv2 is None:
        return Group(work.name, fns, [Row(operation, "fastaug", "cv2", "OpenCV per-image chain",
                                          target, _NO_CV2)])
    print(f"  choosing the fastest OpenCV way for {work.name} ...", file=sys.stderr)
    variant, medians = _pick_opencv_variant(work, repeat)
    fns["cv2"] = opencv_adapter(work, variant)
    chain = "warpAffine+transform+" if work.name == "augment" else ""
    row = Row(operation, "fastaug", "cv2", f"cv2 {chain}{variant} loop", target,
              "" if target else "for reference")
    return Group(work.name, fns, [row], checks=(("fastaug", "cv2"),),
                 info={"opencv_variant": variant, "opencv_variant_medians_ms": medians})


def _back_to_back(fn: Callable, calls: int) -> Callable:
    def run():
        for _ in range(calls):
            out = fn()
        return out
    return run


def _threads_group(work: Workload) -> Group:
    fns = {"threads=1": fastaug_adapter(work, threads=1),
           "threads=2": fastaug_adapter(work, threads=2)}
    # A sample of single calls follows the other callable's: a threads=2 call then
    # starts by waking the OpenMP worker, asleep through the threads=1 call (on a VM,
    # an idle vCPU). Calls back to back, as a loader makes them, keep it awake.
    fns.update({f"{k} x4": _back_to_back(f, 4) for k, f in list(fns.items())})
    note = "" if _cpus() >= 2 else "only 1 CPU available"
    return Group("threads", fns, [
        Row("warp_affine threads=2", "threads=2", "threads=1", "warp_affine threads=1", 1.8,
            note),
        Row("warp_affine threads=2, 4 calls back to back", "threads=2 x4", "threads=1 x4",
            "warp_affine threads=1, 4 calls", None, note or "for reference")],
                 checks=(("threads=2", "threads=1"),))


def _gil_group(work: Workload) -> Group:
    # Two Python threads, each a threads=1 call on half the batch: the speed-up over
    # running the halves one after the other shows that the GIL is released.
    n, half = work.batch, work.batch // 2
    out = work.empty_out()
    parts = [fastaug_adapter(work.subset(s), threads=1, out=out[s])
             for s in (slice(0, half), slice(half, n))]
    pool = ThreadPoolExecutor(max_workers=2)

    def concurrent():
        for f in [pool.submit(p) for p in parts]:
            f.result()
        return out

    def sequential():
        for p in parts:
            p()
        return out

    note = "" if _cpus() >= 2 else "only 1 CPU available"
    row = Row("warp_affine, 2 Python threads (threads=1 each, half the batch)",
              "2 Python threads", "sequential", "same halves, one after the other", 1.8, note)
    return Group("gil", {"2 Python threads": concurrent, "sequential": sequential}, [row],
                 close=pool.shutdown)


#: Row groups in table order. "gil" runs before "threads" so that no OpenMP worker of a
#: threads=2 call is still spinning while the Python threads are timed.
GROUPS = ("warp", "rrc", "flip", "lut", "color", "normalize", "augment", "gil", "threads")


def group_builders(batch: int, size: int, repeat: int, seed: int = 0,
                   only: tuple = GROUPS) -> list[Callable[[], Group]]:
    """Builders of the timing groups of issue 2's speed table, in table order.

    Each group is built just before it is timed and dropped after, so only one
    group's buffers are in memory at a time.

    Parameters
    ----------
    batch, size, repeat, seed : int
        As the command-line options.
    only : tuple of str
        Names from :data:`GROUPS` to build.

    Returns
    -------
    list of callable
        ``builder() -> Group``.
    """
    def work(name):
        return make_workload(name, batch, size, seed=seed)

    build = {
        "warp": lambda: _vs_opencv(work("warp"), "warp_affine (bilinear, fill nearest)",
                                   "cv2.warpAffine loop", 3.0),
        "rrc": lambda: _vs_opencv(work("rrc"), f"resized_crop {round(size * 256 / 224)}->"
                                  f"{size} (RRC boxes)", "cv2.resize loop", 1.5),
        "flip": lambda: _vs_floor(work("flip"), "flip (random per image)", 0.9,
                                  "cv2.flip loop"),
        "lut": lambda: _vs_floor(work("lut"), "lut (table per image)", 0.7, "cv2.LUT loop"),
        "color": lambda: _vs_floor(work("color"), "color_matrix (full 3x4)", 0.35,
                                   "cv2.transform loop"),
        "normalize": lambda: _vs_opencv_chain(work("normalize"), "normalize (float32 NCHW)",
                                              None, repeat),
        "augment": lambda: _vs_opencv_chain(
            work("augment"), "augment (matrix + colour + float32 NCHW)", 2.0, repeat),
        "gil": lambda: _gil_group(work("warp")),
        "threads": lambda: _threads_group(work("warp")),
    }
    return [build[name] for name in GROUPS if name in only]


# ---- environment --------------------------------------------------------------------


def _git_commit() -> str | None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty.strip() else "")) or None


def environment() -> dict:
    """CPU, library versions and thread settings, for the report and the JSON."""
    import fastaug

    try:
        from fastaug import _kernels
        openmp = bool(_kernels.has_openmp())
    except (ImportError, AttributeError):
        openmp = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "cpu_model": _cpu_model(),
        "cpus_available": _cpus(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__ if cv2 is not None else "not installed",
        "fastaug": fastaug.__version__,
        "fastaug_commit": _git_commit(),
        "fastaug_openmp": openmp,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "cv2_threads": cv2.getNumThreads() if cv2 is not None else None,
        "fastaug_threads": "threads=1 except the scaling rows",
        "images": workloads.photo_source(),
        "loadavg_before": _loadavg(),
    }


# ---- report -------------------------------------------------------------------------

#: Other processes using more CPUs than this during a row make the row suspect.
BUSY = 0.25


def _fmt(s: dict) -> str:
    return f"{s['median_ms']:.2f} ({s['min_ms']:.2f}-{s['max_ms']:.2f})"


def run(batch: int, size: int, repeat: int, seed: int = 0, only: tuple = GROUPS) -> dict:
    """Time the groups and return the results (rows, raw runs, environment)."""
    if cv2 is not None:
        cv2.setNumThreads(1)
    env = environment()
    rows, raw = [], {}
    for builder in group_builders(batch, size, repeat, seed, only):
        g = builder()
        print(f"timing {g.name}: {', '.join(g.fns)} ...", file=sys.stderr)
        with OtherLoad() as others:
            times, cpu = measure(g.fns, repeat)
        stats = {k: _stats(v) for k, v in times.items()}
        for k in stats:
            stats[k]["cpu_per_wall"] = float(np.median(np.divide(cpu[k], times[k])))
        checks = {f"{a} vs {b}": _agreement(g.fns[a](), g.fns[b]()) for a, b in g.checks}
        if g.close is not None:
            g.close()
        raw[g.name] = {"stats": stats, "agreement": checks, "other_cpus": others.value,
                       **(g.info or {})}
        for r in g.rows:
            subj, ref = stats[r.subject], stats.get(r.reference)
            ratio = ref["median_ms"] / subj["median_ms"] if ref else None
            agree = checks.get(f"{r.subject} vs {r.reference}")
            note = r.note
            if g.name in ("threads", "gil"):
                # Cores kept busy: ~2 means both threads ran at once even when other
                # processes stole the wall-clock gain.
                busy = f"CPU/wall {subj['cpu_per_wall']:.2f}"
                note = f"{note}; {busy}" if note else busy
            if others.value is not None and others.value > BUSY:
                busy = f"others used {others.value:.1f} CPU"
                note = f"{note}; {busy}" if note else busy
            rows.append({
                "operation": r.operation, "group": g.name, "subject": r.subject,
                "subject_ms": subj, "reference": r.reference_label,
                "reference_ms": ref, "ratio": ratio, "target": r.target,
                "met": None if r.target is None or ratio is None else bool(ratio >= r.target),
                "max_abs_diff": agree["max_abs_diff"] if agree else None, "note": note,
                "other_cpus": others.value,
            })
    env["opencv_threads_during_run"] = cv2.getNumThreads() if cv2 is not None else None
    env["loadavg_after"] = _loadavg()
    config = {"batch": batch, "size": size, "repeat": repeat, "seed": seed,
              "groups": list(only)}
    return {"environment": env, "config": config, "rows": rows, "groups": raw}


def markdown(result: dict) -> str:
    """The results as a markdown table with the hardware and version lines above it."""
    env, cfg = result["environment"], result["config"]
    cv_threads = ""
    if env["opencv_threads_during_run"] is not None:
        cv_threads = f"cv2.setNumThreads(1) (getNumThreads={env['opencv_threads_during_run']}), "
    lines = [
        f"`{env['command']}` — {env['date']}",
        "",
        f"- CPU: {env['cpu_model']} ({env['cpus_available']} CPUs available), "
        f"{env['platform']}",
        f"- Python {env['python']}, numpy {env['numpy']}, OpenCV {env['opencv']}, "
        f"fastaug {env['fastaug']} ({env['fastaug_commit']}, OpenMP {env['fastaug_openmp']})",
        f"- threads: fastaug threads=1 (scaling rows: as named), {cv_threads}"
        f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
        f"- batch {cfg['batch']} x {cfg['size']}x{cfg['size']}x3 uint8 ({env['images']}), "
        f"{cfg['repeat']} timed runs after warm-up; ms are median (min-max); "
        "ratio = reference median / fastaug median (higher is better)",
        "",
        "| operation | fastaug ms | reference | reference ms | ratio | target | met | "
        "max abs diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    others = [r["other_cpus"] for r in result["rows"] if r["other_cpus"] is not None]
    if others:
        line = (f"- other processes kept {np.mean(others):.2f} CPUs busy on average "
                f"(at most {max(others):.2f} during a row)")
        if max(others) > BUSY:
            line += ("; **the machine was not quiet**: rows marked 'others used' are "
                     "skewed, the scaling rows most; rerun on an idle machine")
        lines.insert(5, line)
    for r in result["rows"]:
        ref_ms = _fmt(r["reference_ms"]) if r["reference_ms"] else "—"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "—"
        target = f">= {r['target']:g}x" if r["target"] is not None else "—"
        met = met_cell(r["met"], r["note"])
        diff = f"{r['max_abs_diff']:.3g}" if r["max_abs_diff"] is not None else "—"
        lines.append(f"| {r['operation']} | {_fmt(r['subject_ms'])} | {r['reference']} | "
                     f"{ref_ms} | {ratio} | {target} | {met} | {diff} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="images per batch (256)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (224)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per callable (7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of images and parameters")
    parser.add_argument("--json", metavar="PATH", help="also write every run to this file")
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help=f"comma-separated rows to time (default all: {','.join(GROUPS)})")
    args = parser.parse_args(argv)
    only = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    unknown = sorted(set(only) - set(GROUPS))
    if unknown or not only:
        parser.error(f"unknown --groups {unknown}; choose from {','.join(GROUPS)}")
    if args.batch < 2 or args.size < 8 or args.repeat < 1:
        parser.error("need --batch >= 2, --size >= 8 and --repeat >= 1")
    result = run(args.batch, args.size, args.repeat, args.seed, only)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
