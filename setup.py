"""Build of fastaug's native extension.

Environment switches (all off by default):

FASTAUG_NO_OPENMP=1   build without OpenMP (kernels then run on one thread)
FASTAUG_NATIVE=1      add -march=native (the wheel then only runs on this CPU family)
FASTAUG_SANITIZE=1    AddressSanitizer + UndefinedBehaviorSanitizer, -O1, no recovery
FASTAUG_DEBUG=1       Cython bounds checks on, -O0 -g
"""
import os
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


CSRC = "csrc"
EXTENSIONS = [
    {
        "name": "fastaug._kernels",
        "sources": [
            "fastaug/_kernels.pyx",
            f"{CSRC}/augment.c",
            f"{CSRC}/lut.c",
            f"{CSRC}/sequence.c",
            f"{CSRC}/filters.c",
            f"{CSRC}/parallel.c",
        ],
        "depends": [f"{CSRC}/fastaug.h", f"{CSRC}/border.h", f"{CSRC}/parallel.h",
                    f"{CSRC}/warp_rows.h", f"{CSRC}/filters.h"],
    },
    {
        "name": "fastaug._filters",
        "sources": ["fastaug/_filters.pyx", f"{CSRC}/filters.c", f"{CSRC}/parallel.c"],
        "depends": [f"{CSRC}/filters.h", f"{CSRC}/border.h", f"{CSRC}/parallel.h"],
    },
]

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": _flag("FASTAUG_DEBUG"),
    "wraparound": False,
    "cdivision": True,
}


def _compile_args():
    # -ffp-contract=off keeps every kernel path bit-identical (no fused multiply-add
    # in one path and not in another, whatever the target).
    args = ["-std=c99", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
    if _flag("FASTAUG_SANITIZE"):
        args += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                 "-fno-sanitize-recover=all"]
    elif _flag("FASTAUG_DEBUG"):
        args += ["-O0", "-g"]
    else:
        args += ["-O3"]
    if _flag("FASTAUG_NATIVE"):
        args.append("-march=native")
    return args


def _link_args():
    if _flag("FASTAUG_SANITIZE"):
        return ["-fsanitize=address,undefined"]
    return []


class BuildExt(build_ext):
    """Adds OpenMP when the compiler supports it (opt out: FASTAUG_NO_OPENMP=1)."""

    def _has_openmp(self):
        if _flag("FASTAUG_NO_OPENMP") or sys.platform == "win32":
            return False
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "omp.c")
            with open(src, "w") as f:
                f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
                self.compiler.link_executable(objs, os.path.join(tmp, "omp"),
                                              extra_postargs=["-fopenmp"])
            except Exception:
                return False
        return True

    def build_extensions(self):
        openmp = self._has_openmp()
        for ext in self.extensions:
            if openmp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        print(f"fastaug: building with OpenMP: {openmp}")
        super().build_extensions()


def _extensions():
    return [
        Extension(
            spec["name"],
            sources=spec["sources"],
            depends=spec["depends"],
            include_dirs=[CSRC, np.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
            extra_compile_args=_compile_args(),
            extra_link_args=_link_args(),
        )
        for spec in EXTENSIONS
    ]


setup(
    ext_modules=cythonize(_extensions(), compiler_directives=CYTHON_DIRECTIVES),
    cmdclass={"build_ext": BuildExt},
)
