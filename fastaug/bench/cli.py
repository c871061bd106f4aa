"""``python -m fastaug.bench`` (also ``fastaug bench``): fastaug against its peers, one run.

Every library does the same workloads on the same decoded photos, with the same number
of threads (pinned and recorded), warmed up, then timed ``--repeat`` times interleaved
in rotating order. Prints a markdown table (images/s, ms per batch as median and
min-max, ratio to fastaug) and writes ``bench.json`` (every run, versions, CPU, thread
settings), ``bench.md`` and ``bench.png`` (log-scale bars) into ``--out``.

``--sweep`` instead measures fastaug alone against batch size, image size and thread
count, and writes ``sweep.json`` and ``sweep.png``.

Libraries: fastaug, albumentations, torchvision (transforms v2), kornia, keras
(``ImageDataGenerator``), opencv (a hand-written per-image loop) and copyto (the memory
floor). Each peer is optional: a missing one is skipped with a note.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import sys
import time

import numpy as np

from .chart import bar_chart, line_chart
from .peers import ADAPTERS, LIBRARIES, WORKLOADS, Skip, input_size, make_spec
from .timing import OtherLoad, cpu_model, cpus, loadavg, measure, stats
from .workloads import photo_source

__all__ = ["main", "run_comparison", "run_sweep"]

#: Other processes using more CPUs than this during a group make its numbers suspect.
BUSY = 0.25

_DISTS = {"numpy": "numpy", "opencv": "opencv-python-headless", "albumentations":
          "albumentations", "torch": "torch", "torchvision": "torchvision",
          "kornia": "kornia", "keras": "keras", "matplotlib": "matplotlib",
          "scikit-image": "scikit-image"}


# ---- progress ----------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (one line per step when not a terminal)."""

    def __init__(self, total: int, stream=None, width: int = 28):
        self.total, self.done, self.width = max(1, total), 0, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def step(self, label: str, advance: int = 1) -> None:
        self.done = min(self.total, self.done + advance)
        f = self.done / self.total
        bar = "#" * int(f * self.width) + "-" * (self.width - int(f * self.width))
        line = (f"[{bar}] {self.done}/{self.total} {time.perf_counter() - self.start:5.0f}s "
                f"{label}")
        if self.tty:
            self.stream.write("\r\033[K" + line[:160])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---- threads and environment -----------------------------------------------------------


def pin_threads(n: int) -> dict:
    """Use ``n`` threads in OpenCV, torch and fastaug; returns what each reports."""
    import fastaug

    got = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset")}
    try:
        import cv2

        cv2.setNumThreads(n)
        got["cv2"] = cv2.getNumThreads()
    except ImportError:
        pass
    if "torch" in sys.modules:  # imported by a peer; never import torch just for this
        torch = sys.modules["torch"]
        torch.set_num_threads(n)
        got["torch"] = torch.get_num_threads()
    fastaug.set_num_threads(n)
    got["fastaug"] = n
    return got


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(argv: list[str]) -> dict:
    """CPU, versions and the settings a reader needs to rerun the numbers."""
    import fastaug

    try:
        from fastaug import _kernels

        openmp = bool(_kernels.has_openmp())
    except (ImportError, AttributeError):
        openmp = None
    versions = {k: _version(d) for k, d in _DISTS.items()}
    if versions["opencv"] == "not installed":
        try:
            import cv2

            versions["opencv"] = cv2.__version__
        except ImportError:
            pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m fastaug.bench " + " ".join(argv),
        "cpu_model": cpu_model(),
        "cpus_available": cpus(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastaug": fastaug.__version__,
        "fastaug_openmp": openmp,
        "versions": versions,
        "keras_backend": os.environ.get("KERAS_BACKEND"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "images": photo_source(),
        "loadavg_before": loadavg(),
    }


# ---- the comparison --------------------------------------------------------------------


def _time_group(fns: dict, repeat: int) -> tuple[dict, float | None]:
    with OtherLoad() as others:
        times, _ = measure(fns, repeat)
    return times, others.value


def run_comparison(workloads, libs, threads, batch, size, repeat, seed=0,
                   keras_batch=32, progress: Progress | None = None) -> list[dict]:
    """Time every library on every workload at every thread count.

    Returns
    -------
    list of dict
        One row per (threads, workload, library): label, note, images timed, stats of
        the runs scaled to the whole batch (ms), images/s and ``ratio`` (that
        library's time / fastaug's: how many times faster fastaug is; for ``copyto``,
        fastaug's speed as a fraction of the memory floor).
    """
    rows = []
    for n_threads in threads:
        pinned = pin_threads(n_threads)
        for name in workloads:
            spec = make_spec(name, batch, size, seed)
            adapters, skipped = {}, {}
            for lib in libs:
                try:
                    if lib == "keras":
                        adapters[lib] = ADAPTERS[lib](spec, n_threads, keras_batch)
                    else:
                        adapters[lib] = ADAPTERS[lib](spec, n_threads)
                except Skip as e:
                    skipped[lib] = str(e)
                pin_threads(n_threads)  # a library may reset thread counts on import
                if progress:
                    progress.step(f"{name} t={n_threads}: built {lib}")
            pinned = pin_threads(n_threads)
            fns = {lib: a.run for lib, a in adapters.items()}
            times, others = _time_group(fns, repeat) if fns else ({}, None)
            if progress:
                progress.step(f"{name} t={n_threads}: timed {', '.join(fns)}")
            per_image = {lib: float(np.median(t)) / adapters[lib].images
                         for lib, t in times.items()}
            base = per_image.get("fastaug")
            for lib in libs:
                row = {"workload": name, "title": spec.title, "threads": n_threads,
                       "library": lib, "thread_settings": pinned, "other_cpus": others}
                if lib in skipped:
                    rows.append({**row, "label": lib, "skipped": skipped[lib]})
                    continue
                a = adapters[lib]
                scale = batch / a.images
                s = stats([t * scale for t in times[lib]])
                ratio = per_image[lib] / base if base else None
                rows.append({**row, "label": a.label, "note": a.note,
                             "images_timed": a.images, "batch": batch, **s,
                             "images_per_s": batch / s["median_ms"] * 1e3,
                             "ratio": ratio})
            del adapters, fns, times
            gc.collect()
    return rows


def _fmt_ms(r: dict) -> str:
    return f"{r['median_ms']:.2f} ({r['min_ms']:.2f}-{r['max_ms']:.2f})"


def markdown(result: dict) -> str:
    """The hardware lines and the table, in markdown."""
    env, cfg = result["environment"], result["config"]
    v = env["versions"]
    lines = [
        f"`{env['command']}` — {env['date']}",
        "",
        f"- CPU: {env['cpu_model']} ({env['cpus_available']} CPUs available), "
        f"{env['platform']}, Python {env['python']}",
        f"- fastaug {env['fastaug']} (OpenMP {env['fastaug_openmp']}), "
        + ", ".join(f"{k} {x}" for k, x in v.items() if x != "not installed"),
        f"- batch {cfg['batch']} photos ({env['images']}), output side {cfg['size']}; "
        f"threads {', '.join(map(str, cfg['threads']))} in every library "
        f"(cv2.setNumThreads, torch.set_num_threads, fastaug), "
        f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
        f"- {cfg['repeat']} timed runs per library after warm-up, interleaved; ms per batch "
        "= median (min-max); ratio = that library's time / fastaug's (how many times "
        "faster fastaug is; for np.copyto: fastaug's speed as a fraction of the memory "
        "floor)",
    ]
    others = [r["other_cpus"] for r in result["rows"] if r.get("other_cpus") is not None]
    if others and max(others) > BUSY:
        lines.append(f"- **the machine was not quiet**: other processes kept up to "
                     f"{max(others):.2f} CPUs busy; rerun on an idle machine")
    lines += ["", "| workload | threads | library | images/s | ms per batch | ratio | note |",
              "|---|---|---|---|---|---|---|"]
    skipped: dict[str, list[str]] = {}
    for r in result["rows"]:
        if "skipped" in r:
            skipped.setdefault(f"{r['library']}: {r['skipped']}", []).append(r["workload"])
            continue
        head = f"| {r['workload']} | {r['threads']} | {r['label']} |"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        note = r.get("note") or ""
        if r.get("other_cpus") is not None and r["other_cpus"] > BUSY:
            note = "; ".join(filter(None, [note, f"others used {r['other_cpus']:.1f} CPU"]))
        lines.append(f"{head} {r['images_per_s']:,.0f} | {_fmt_ms(r)} | {ratio} | {note} |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(
            f"{why} ({', '.join(dict.fromkeys(ws))})" for why, ws in skipped.items())]
    lines += ["", "Workloads:"] + [f"- `{w}`: {t}" for w, t in result["titles"].items()]
    return "\n".join(lines)


def _chart_comparison(result: dict, path: str) -> str:
    rows = [r for r in result["rows"] if "skipped" not in r]
    threads = result["config"]["threads"]
    groups = [(w, t) for t in threads for w in result["config"]["workloads"]]
    labels = [w if len(threads) == 1 else f"{w} t={t}" for w, t in groups]
    series = {}
    for lib in result["config"]["libs"]:
        vals = []
        for w, t in groups:
            hit = [r["images_per_s"] for r in rows
                   if r["library"] == lib and r["workload"] == w and r["threads"] == t]
            vals.append(hit[0] if hit else None)
        if any(vals):
            series[lib] = vals
    env, cfg = result["environment"], result["config"]
    title = f"images/s, batch {cfg['batch']}, side {cfg['size']} - {env['cpu_model']}"[:90]
    return bar_chart(path, labels, series, title)


# ---- the sweep -----------------------------------------------------------------------------


#: Sweep axes: batch sizes, image sides; threads go 1, 2, 4, ... up to the CPUs.
SWEEP_BATCHES = (1, 4, 16, 64, 256, 1024)
SWEEP_SIZES = (64, 128, 256, 512, 1024)
_SWEEP_MAX_BYTES = 1 << 28  # input batch cap for the image-size axis


def sweep_points(batch: int, size: int, threads: int) -> list[tuple[str, int, int, int]]:
    """``(axis, batch, size, threads)`` of every sweep measurement."""
    pts = [("batch", b, size, threads) for b in SWEEP_BATCHES]
    for s in SWEEP_SIZES:
        cap = max(1, _SWEEP_MAX_BYTES // (input_size("full", s) ** 2 * 3))
        pts.append(("size", min(batch, cap), s, threads))
    ts, t = [], 1
    while t < cpus():
        ts.append(t)
        t *= 2
    ts.append(cpus())
    pts += [("threads", batch, size, t) for t in ts]
    return pts


def run_sweep(workloads, batch, size, threads, repeat, seed=0,
              progress: Progress | None = None) -> list[dict]:
    """fastaug alone: images/s against batch size, image size and threads."""
    from .peers import fastaug_adapter

    rows = []
    for name in workloads:
        for axis, b, s, t in sweep_points(batch, size, threads):
            pin_threads(t)
            spec = make_spec(name, b, s, seed)
            a = fastaug_adapter(spec, t)
            times, others = _time_group({"fastaug": a.run}, repeat)
            st = stats(times["fastaug"])
            rows.append({"workload": name, "axis": axis, "batch": b, "size": s, "threads": t,
                         **st, "images_per_s": b / st["median_ms"] * 1e3,
                         "other_cpus": others})
            if progress:
                progress.step(f"sweep {name}: {axis} batch={b} size={s} threads={t}")
            del a, spec
    return rows


def sweep_markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"`{env['command']}` — {env['date']}", "",
             f"- CPU: {env['cpu_model']} ({env['cpus_available']} CPUs available)", "",
             "| workload | axis | batch | size | threads | images/s | ms per batch |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['workload']} | {r['axis']} | {r['batch']} | {r['size']} | "
                     f"{r['threads']} | {r['images_per_s']:,.0f} | {_fmt_ms(r)} |")
    return "\n".join(lines)


def _chart_sweep(result: dict, path: str) -> str:
    panels = []
    for axis, label, key, xlog in (("batch", "batch size", "batch", True),
                                   ("size", "image side (px)", "size", True),
                                   ("threads", "threads", "threads", False)):
        lines = {}
        for w in result["config"]["workloads"]:
            rs = [r for r in result["rows"] if r["axis"] == axis and r["workload"] == w]
            lines[w] = ([r[key] for r in rs], [r["images_per_s"] for r in rs])
        panels.append({"xlabel": label, "xlog": xlog, "lines": lines})
    title = f"fastaug images/s - {result['environment']['cpu_model']}"[:80]
    return line_chart(path, panels, title)


# ---- command line ------------------------------------------------------------------------


def _csv(choices):
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {bad or 'empty list'}; choose from {','.join(choices)}")
        return list(dict.fromkeys(items))
    return parse


def _ints(text: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, e.g. 1,2; got {text!r}")
    return list(dict.fromkeys(values))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastaug.bench", description=__doc__.split("\n\n")[0],
        epilog="Peers: pip install 'fastaug[bench]'. Absolute numbers only mean something "
        "on the machine that printed them; compare ratios.")
    p.add_argument("--threads", type=_ints, default=[1],
                   help="comma-separated thread counts, each timed for every library (1)")
    p.add_argument("--batch", type=_positive, default=256, help="images per batch (256)")
    p.add_argument("--size", type=_positive, default=224,
                   help="output side in pixels; rrc and full read size x 256/224 (224)")
    p.add_argument("--libs", type=_csv(LIBRARIES), default=list(LIBRARIES),
                   help=f"comma-separated libraries (default all: {','.join(LIBRARIES)}); "
                   "fastaug always runs")
    p.add_argument("--workloads", type=_csv(WORKLOADS), default=list(WORKLOADS),
                   help=f"comma-separated workloads (default all: {','.join(WORKLOADS)})")
    p.add_argument("--out", default="fastaug_bench",
                   help="directory for the JSON, markdown and PNG files (fastaug_bench)")
    p.add_argument("--repeat", type=_positive, default=7, help="timed runs per library (7)")
    p.add_argument("--keras-batch", type=_positive, default=32,
                   help="images Keras' ImageDataGenerator is timed on, scaled (32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the images and parameters")
    p.add_argument("--sweep", action="store_true",
                   help="fastaug alone: images/s against batch size (1-1024), image size "
                   "(64-1024) and threads; writes sweep.json and sweep.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m fastaug.bench`` and ``fastaug bench``; returns the status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    # Pin OpenMP before any peer library (torch, OpenCV's OpenMP build) reads it.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(args.threads)))
    os.environ.setdefault("KERAS_BACKEND", "torch")
    libs = ["fastaug"] + [lib for lib in args.libs if lib != "fastaug"]
    os.makedirs(args.out, exist_ok=True)
    env = environment(argv)
    config = {"batch": args.batch, "size": args.size, "threads": args.threads,
              "libs": libs, "workloads": args.workloads, "repeat": args.repeat,
              "keras_batch": args.keras_batch, "seed": args.seed}
    stream = open(os.devnull, "w") if args.quiet else sys.stderr  # noqa: SIM115
    try:
        if args.sweep:
            n = len(args.workloads) * len(sweep_points(args.batch, args.size,
                                                       args.threads[0]))
            progress = Progress(n, stream)
            rows = run_sweep(args.workloads, args.batch, args.size, args.threads[0],
                             args.repeat, args.seed, progress)
            progress.close()
            env["loadavg_after"] = loadavg()
            result = {"environment": env, "config": config, "rows": rows}
            text = sweep_markdown(result)
            stem = "sweep"
            drawn = _chart_sweep(result, os.path.join(args.out, "sweep.png"))
        else:
            n = len(args.threads) * len(args.workloads) * (len(libs) + 1)
            progress = Progress(n, stream)
            rows = run_comparison(args.workloads, libs, args.threads, args.batch, args.size,
                                  args.repeat, args.seed, args.keras_batch, progress)
            progress.close()
            env["loadavg_after"] = loadavg()
            titles = {w: make_spec(w, 1, args.size).title for w in args.workloads}
            result = {"environment": env, "config": config, "titles": titles, "rows": rows}
            text = markdown(result)
            stem = "bench"
            drawn = _chart_comparison(result, os.path.join(args.out, "bench.png"))
    finally:
        if stream is not sys.stderr:
            stream.close()
    result["chart_drawn_with"] = drawn
    with open(os.path.join(args.out, f"{stem}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, f"{stem}.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"\nwrote {os.path.join(args.out, stem)}.json, .md and .png", file=sys.stderr)
    return 0
