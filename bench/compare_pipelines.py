"""The pipeline speed table of issue 3: whole augmentation pipelines, fastaug vs its peers.

Usage::

    python bench/compare_pipelines.py [--batch 256] [--repeat 7] [--json out.json]
                                      [--libs fastaug,albumentations,opencv,keras]

Three groups, each timed in one run on the same real-looking images
(:func:`workloads.sample_images`), one thread everywhere (``cv2.setNumThreads(1)``,
``torch.set_num_threads(1)``, fastaug ``threads=1``), warmed up, then timed ``--repeat``
times interleaved in rotating order (``compare_ops.measure``):

1. ``imagenet``: ``RandomResizedCrop(224)`` from 256x256, ``HorizontalFlip``,
   ``ColorJitter(0.4, 0.4, 0.4, 0.1)``, ``Normalize`` (ImageNet mean/std) to float32
   NCHW. fastaug ``Compose`` (one call on the batch) against albumentations' ``Compose``
   per image (+ transpose to CHW into a preallocated batch) and against the fastest
   hand-written per-image OpenCV loop found (crop resize, flip, one 3x4 colour matrix
   with brightness, contrast about the image's mean grey, saturation and hue as a
   rotation about the grey axis, via ``cv2.transform``, then float32 CHW); several
   spellings of the loop are timed first and the fastest kept.
2. ``keras``: the classic Keras configuration (rotation 40, width/height shift 0.2, shear
   0.2 degrees, zoom 0.2, horizontal flip, fill "nearest", rescale 1/255) on 224x224x3:
   fastaug ``Compose`` and ``fastaug.ImageDataGenerator.flow`` against albumentations
   (``Affine`` + ``HorizontalFlip`` per image, then /255) and Keras' legacy
   ``ImageDataGenerator.flow`` (``KERAS_BACKEND=torch``; timed on fewer images,
   ``--keras-batch``, and scaled to the batch, since it is slow).
3. ``sampling``: ``aug.sample(...)`` of pipeline 1 against the whole ``aug(x)`` call.

Ratios are that library's median ms per batch / fastaug's, higher is better for fastaug.
The OpenCV loop gets its random parameters drawn beforehand (untimed) while fastaug and
albumentations draw theirs inside the timed call: the comparison favours OpenCV.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare_ops import (  # noqa: E402
    BUSY,
    OtherLoad,
    _fmt,
    _loadavg,
    _stats,
    environment,
    measure,
)
from workloads import sample_images  # noqa: E402

from fastaug.bench.pipelines import (  # noqa: E402, F401  (re-exported for old imports)
    KERAS_CONFIG,
    OPENCV_GEOMETRY,
    SIZE_IN,
    SIZE_OUT,
    albumentations_imagenet,
    albumentations_keras,
    fastaug_imagenet,
    fastaug_keras,
    flow_runner,
    jitter_parts,
    opencv_imagenet,
    opencv_imagenet_variants,
    pick_opencv_imagenet,
)
from fastaug.bench.pipelines import import_albumentations as _import_albumentations  # noqa: E402
from fastaug.bench.pipelines import import_keras_idg as _import_keras_idg  # noqa: E402
from fastaug.bench.pipelines import set_single_thread as _set_single_thread  # noqa: E402
from fastaug.bench.pipelines import version as _version  # noqa: E402
from fastaug.bench.timing import met_cell  # noqa: E402

try:
    import cv2
except ImportError:
    cv2 = None

LIBS = ("fastaug", "albumentations", "opencv", "keras")

KERAS_SIZE = 224  # pipeline 2


# ---- the groups ---------------------------------------------------------------------


@dataclass
class Entry:
    """One library in a group: its callable, label and how many images one call does."""

    key: str
    label: str
    run: Callable | None
    images: int
    vs: str | None = None  # the fastaug entry its ratio is taken against
    target: float | None = None
    note: str = ""


def imagenet_group(batch: int, repeat: int, libs: tuple, seed: int) -> tuple[list, dict]:
    images = sample_images(batch, SIZE_IN, seed=seed)
    entries = [Entry("fastaug", "fastaug Compose (one call)", None, batch)]
    info: dict = {}
    aug = fastaug_imagenet(1, seed)
    entries[0].run = lambda: aug(images)
    if "albumentations" in libs:
        A, why = _import_albumentations()
        if A is None or cv2 is None:
            entries.append(Entry("albumentations", "albumentations Compose per image", None,
                                 batch, "fastaug", 5.0, why or "OpenCV not installed"))
        else:
            entries.append(Entry("albumentations", f"albumentations {A.__version__} Compose "
                                 "per image + CHW", albumentations_imagenet(A, images, seed),
                                 batch, "fastaug", 5.0))
    if "opencv" in libs:
        if cv2 is None:
            entries.append(Entry("opencv", "OpenCV per-image loop", None, batch, "fastaug",
                                 1.5, "OpenCV not installed"))
        else:
            print("  choosing the fastest OpenCV loop ...", file=sys.stderr)
            best, fn, medians = pick_opencv_imagenet(images, repeat, seed)
            info["opencv_variant"], info["opencv_variant_medians_ms"] = best, medians
            entries.append(Entry("opencv", f"cv2 loop: {best}", fn, batch, "fastaug", 1.5,
                                 "params drawn untimed"))
    return entries, info


def keras_group(batch: int, keras_batch: int, libs: tuple, seed: int) -> tuple[list, dict]:
    import fastaug

    images = sample_images(batch, KERAS_SIZE, seed=seed)
    aug = fastaug_keras(1, seed)
    entries = [Entry("fastaug", "fastaug Compose (one call)", lambda: aug(images), batch),
               Entry("fastaug_flow", "fastaug ImageDataGenerator.flow",
                     flow_runner(fastaug.ImageDataGenerator, images, seed, prefetch=0), batch)]
    if "albumentations" in libs:
        A, why = _import_albumentations()
        if A is None or cv2 is None:
            entries.append(Entry("albumentations", "albumentations Affine+HorizontalFlip",
                                 None, batch, "fastaug", 5.0, why or "OpenCV not installed"))
        else:
            entries.append(Entry("albumentations", f"albumentations {A.__version__} "
                                 "Affine+HorizontalFlip per image, /255",
                                 albumentations_keras(A, images, seed), batch, "fastaug", 5.0))
    if "keras" in libs:
        IDG, why = _import_keras_idg()
        if IDG is None:
            entries.append(Entry("keras", "Keras ImageDataGenerator.flow", None, keras_batch,
                                 "fastaug_flow", 40.0, why))
        else:
            kb = min(keras_batch, batch)
            entries.append(Entry("keras", f"Keras {_version('keras')} ImageDataGenerator.flow "
                                 f"({kb} images, scaled to {batch})",
                                 flow_runner(IDG, images[:kb], seed), kb, "fastaug_flow", 40.0))
    return entries, {}


def sampling_group(batch: int, seed: int) -> tuple[list, dict]:
    images = sample_images(batch, SIZE_IN, seed=seed)
    aug = fastaug_imagenet(1, seed)
    shape = images.shape[1:]
    return [Entry("fastaug", "aug(x) (sample + apply)", lambda: aug(images), batch),
            Entry("sample", "aug.sample(n, shape)", lambda: aug.sample(batch, shape), batch,
                  "fastaug", 0.05)], {}


GROUPS = {
    "imagenet": "1. ImageNet train (RRC 256->224, flip, jitter, normalize NCHW)",
    "keras": "2. Keras config (rot 40, shift/shear/zoom 0.2, flip, nearest, 1/255)",
    "sampling": "3. sampling share of pipeline 1",
}


# ---- run and report -----------------------------------------------------------------


def _check_output(out) -> dict:
    """Shape, dtype and moments of an output, for the JSON (a sanity check)."""
    a = out[0] if isinstance(out, tuple) else out
    if isinstance(a, dict):  # aug.sample
        return {}
    a = np.asarray(a)
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "mean": float(a.mean(dtype=np.float64)), "std": float(a.std(dtype=np.float64))}


def run(batch: int, repeat: int, keras_batch: int, libs: tuple, seed: int = 0) -> dict:
    """Time the three groups; return rows, raw runs and the environment."""
    # Import every library first: some set their own thread counts on import.
    if "albumentations" in libs:
        _import_albumentations()
    if "keras" in libs:
        _import_keras_idg()
    threads = _set_single_thread()
    env = environment()
    env.update({"albumentations": _version("albumentations"), "keras": _version("keras"),
                "keras_backend": os.environ.get("KERAS_BACKEND"), "torch": _version("torch"),
                "threads_during_run": threads,
                "fastaug_threads": "threads=1 (Compose) and set_num_threads(1) (flow)"})
    builders = {
        "imagenet": lambda: imagenet_group(batch, repeat, libs, seed),
        "keras": lambda: keras_group(batch, keras_batch, libs, seed),
        "sampling": lambda: sampling_group(batch, seed),
    }
    rows, raw = [], {}
    for name, build in builders.items():
        entries, info = build()
        fns = {e.key: e.run for e in entries if e.run is not None}
        print(f"timing {name}: {', '.join(fns)} ...", file=sys.stderr)
        t0 = time.perf_counter()
        with OtherLoad() as others:
            times, _ = measure(fns, repeat)
        stats = {k: _stats(v) for k, v in times.items()}
        outputs = {k: _check_output(fns[k]()) for k in fns}
        raw[name] = {"stats": stats, "outputs": outputs, "other_cpus": others.value,
                     "seconds": time.perf_counter() - t0, **info}
        per = {e.key: (stats[e.key]["median_ms"] * batch / e.images if e.key in stats else None)
               for e in entries}
        for e in entries:
            s = stats.get(e.key)
            scale = batch / e.images
            ms = ({k: ([x * scale for x in v] if isinstance(v, list) else v * scale)
                   for k, v in s.items() if k.endswith("_ms")} if s else None)
            ratio = met = None
            if e.vs and s and per.get(e.vs):
                if name == "sampling":
                    ratio = per[e.key] / per[e.vs]  # a share of the call: lower is better
                    met = bool(ratio < e.target)
                else:
                    ratio = per[e.key] / per[e.vs]
                    met = bool(ratio >= e.target)
            note = e.note
            if e.key == "keras" and per.get("fastaug") and per.get("keras"):
                also = f"Compose {per['keras'] / per['fastaug']:.1f}x"
                note = f"{note}; {also}" if note else also
            if others.value is not None and others.value > BUSY:
                busy = f"others used {others.value:.1f} CPU"
                note = f"{note}; {busy}" if note else busy
            rows.append({"pipeline": GROUPS[name], "group": name, "key": e.key,
                         "library": e.label, "images_timed": e.images, "ms": ms,
                         "images_per_s": batch / ms["median_ms"] * 1e3 if ms else None,
                         "vs": e.vs, "ratio": ratio, "target": e.target, "met": met,
                         "note": note, "other_cpus": others.value})
    env["loadavg_after"] = _loadavg()
    config = {"batch": batch, "repeat": repeat, "keras_batch": keras_batch, "seed": seed,
              "libs": list(libs), "imagenet_input": [SIZE_IN, SIZE_IN, 3],
              "keras_input": [KERAS_SIZE, KERAS_SIZE, 3]}
    return {"environment": env, "config": config, "rows": rows, "groups": raw}


_VS_LABEL = {"fastaug": "Compose", "fastaug_flow": "flow"}


def markdown(result: dict) -> str:
    """The results as a markdown table with the hardware and version lines above it."""
    env, cfg = result["environment"], result["config"]
    th = env["threads_during_run"]
    lines = [
        f"`{env['command']}` — {env['date']}",
        "",
        f"- CPU: {env['cpu_model']} ({env['cpus_available']} CPUs available), "
        f"{env['platform']}",
        f"- Python {env['python']}, numpy {env['numpy']}, OpenCV {env['opencv']}, "
        f"albumentations {env['albumentations']}, Keras {env['keras']} "
        f"(backend {env['keras_backend']}, torch {env['torch']}), "
        f"fastaug {env['fastaug']} ({env['fastaug_commit']}, OpenMP {env['fastaug_openmp']})",
        "- threads: " + ", ".join(f"{k} {v}" for k, v in th.items())
        + f" (fastaug Compose threads=1), OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
        f"- batch {cfg['batch']} images ({env['images']}): 256x256x3 uint8 for pipeline 1, "
        f"224x224x3 for pipeline 2; {cfg['repeat']} timed runs after warm-up, interleaved; "
        "ms per batch are median (min-max), Keras timed on "
        f"{cfg['keras_batch']} images and scaled; ratio = that library's median / fastaug's "
        "(higher is better; for the sampling row, the share of the whole call)",
    ]
    others = [r["other_cpus"] for r in result["rows"] if r["other_cpus"] is not None]
    if others:
        line = (f"- other processes kept {np.mean(others):.2f} CPUs busy on average "
                f"(at most {max(others):.2f} during a group)")
        if max(others) > BUSY:
            line += "; **the machine was not quiet**: rerun on an idle machine"
        lines.append(line)
    g = result["groups"].get("imagenet", {})
    if "opencv_variant" in g:
        lines.append("- OpenCV loop spellings (ms per batch, median): " + ", ".join(
            f"{k} {v:.1f}" for k, v in sorted(g["opencv_variant_medians_ms"].items(),
                                              key=lambda kv: kv[1])))
    lines += ["", "| pipeline | library | images/s | ms per batch | ratio fastaug/that "
              "library | target | met |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        ms = _fmt(r["ms"]) if r["ms"] else "—"
        ips = f"{r['images_per_s']:,.0f}" if r["images_per_s"] else "—"
        if r["ratio"] is None:
            ratio = "—"
        elif r["group"] == "sampling":
            ratio = f"{100 * r['ratio']:.1f}% of aug(x)"
        else:
            ratio = f"{r['ratio']:.2f}x (vs {_VS_LABEL.get(r['vs'], r['vs'])})"
        if r["target"] is None:
            target = "—"
        elif r["group"] == "sampling":
            target = f"< {100 * r['target']:g}%"
        else:
            target = f">= {r['target']:g}x"
        met = met_cell(r["met"], r["note"])
        lines.append(f"| {r['pipeline']} | {r['library']} | {ips} | {ms} | {ratio} | "
                     f"{target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="images per batch (256)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per callable (7)")
    parser.add_argument("--keras-batch", type=int, default=64,
                        help="images Keras' flow is timed on, scaled to --batch (64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of images and parameters")
    parser.add_argument("--json", metavar="PATH", help="also write every run to this file")
    parser.add_argument("--libs", default=",".join(LIBS),
                        help=f"comma-separated peers to time (default all: {','.join(LIBS)}); "
                        "fastaug always runs")
    args = parser.parse_args(argv)
    libs = tuple(s.strip() for s in args.libs.split(",") if s.strip())
    unknown = sorted(set(libs) - set(LIBS))
    if unknown:
        parser.error(f"unknown --libs {unknown}; choose from {','.join(LIBS)}")
    if args.batch < 2 or args.repeat < 1 or args.keras_batch < 1:
        parser.error("need --batch >= 2, --repeat >= 1 and --keras-batch >= 1")
    result = run(args.batch, args.repeat, args.keras_batch, libs, args.seed)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
