"""Charts of the benchmark: grouped bars and line panels, log-scale, written as PNG.

matplotlib draws them when it is installed; otherwise a small numpy rasteriser draws
them and :mod:`fastaug._png` encodes the file, so no dependency is needed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._png import draw_text, text_size, write_png

__all__ = ["bar_chart", "line_chart"]

#: One colour per library (and per sweep line), RGB.
PALETTE = {
    "fastaug": (214, 39, 40),
    "albumentations": (31, 119, 180),
    "torchvision": (255, 127, 14),
    "kornia": (148, 103, 189),
    "keras": (140, 86, 75),
    "opencv": (44, 160, 44),
    "copyto": (127, 127, 127),
}
_CYCLE = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127)]


def _colour(name: str, k: int) -> tuple[int, int, int]:
    return PALETTE.get(name, _CYCLE[k % len(_CYCLE)])


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# ---- a tiny rasteriser -----------------------------------------------------------------


class _Axes:
    """A plot area on a white canvas with a log10 y axis and a linear or log2 x axis."""

    def __init__(self, canvas: np.ndarray, box: tuple[int, int, int, int],
                 ylim: tuple[float, float], xlim: tuple[float, float] = (0.0, 1.0),
                 xlog: bool = False):
        self.img, (self.top, self.left, self.h, self.w) = canvas, box
        lo, hi = ylim
        self.y0, self.y1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if self.y1 == self.y0:
            self.y1 += 1
        self.xlog = xlog
        self.x0, self.x1 = (math.log2(xlim[0]), math.log2(xlim[1])) if xlog else xlim
        if self.x1 == self.x0:
            self.x1 += 1

    def py(self, v: float) -> int:
        f = (math.log10(max(v, 1e-12)) - self.y0) / (self.y1 - self.y0)
        return int(round(self.top + self.h - f * self.h))

    def px(self, v: float) -> int:
        x = math.log2(v) if self.xlog else v
        return int(round(self.left + (x - self.x0) / (self.x1 - self.x0) * self.w))

    def frame(self, ylabel: str) -> None:
        img, t, lft, h, w = self.img, self.top, self.left, self.h, self.w
        for d in range(self.y0, self.y1 + 1):
            y = self.py(10.0 ** d)
            img[y, lft:lft + w] = 225
            for m in range(2, 10):  # minor ticks
                ym = self.py(m * 10.0 ** d)
                if d < self.y1 and t <= ym <= t + h:
                    img[ym, lft - 3:lft] = 0
            label = _si(10.0 ** d)
            th, tw = text_size(label, 1)
            draw_text(img, label, y - th // 2, lft - tw - 6, (0, 0, 0))
            img[y, lft - 5:lft] = 0
        img[t:t + h + 1, lft] = 0
        img[t + h, lft:lft + w + 1] = 0
        draw_text(img, ylabel, t - 14, lft - 40, (0, 0, 0))

    def rect(self, x0: int, x1: int, v: float, colour) -> None:
        y = self.py(v)
        base = self.top + self.h
        self.img[min(y, base):base, x0:x1] = colour

    def line(self, xs: Sequence[float], ys: Sequence[float], colour) -> None:
        pts = [(self.px(x), self.py(y)) for x, y in zip(xs, ys)]
        for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
            n = max(abs(xb - xa), abs(yb - ya), 1)
            for f in np.linspace(0, 1, 2 * n + 1):
                x, y = int(round(xa + f * (xb - xa))), int(round(ya + f * (yb - ya)))
                self.img[y - 1:y + 2, x - 1:x + 2] = colour
        for x, y in pts:
            self.img[y - 3:y + 4, x - 3:x + 4] = colour


def _si(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _legend(img: np.ndarray, names: Sequence[str], colours, top: int, left: int) -> None:
    x = left
    for name, colour in zip(names, colours):
        img[top:top + 9, x:x + 9] = colour
        draw_text(img, name, top + 1, x + 13, (0, 0, 0))
        x += 13 + text_size(name, 1)[1] + 16


# ---- bar chart -------------------------------------------------------------------------


def bar_chart(path: str, groups: Sequence[str], series: dict[str, Sequence[float | None]],
              title: str, ylabel: str = "images/s") -> str:
    """Grouped bars on a log scale: one group per workload, one bar per library.

    Parameters
    ----------
    path : str
        PNG file to write.
    groups : sequence of str
        Group labels (x axis).
    series : dict of name -> sequence of float or None
        One value per group for each bar series (None: no bar).
    title, ylabel : str

    Returns
    -------
    str
        ``"matplotlib"`` or ``"fastaug._png"``: what drew the chart.
    """
    values = [v for vs in series.values() for v in vs if v]
    if not values:
        values = [1.0]
    if _have_matplotlib():
        _bar_matplotlib(path, groups, series, title, ylabel)
        return "matplotlib"
    n_groups, n_series = len(groups), max(1, len(series))
    bar_w = max(6, min(28, 640 // max(1, n_groups * n_series)))
    group_w = bar_w * n_series + 24
    width = max(640, 90 + n_groups * group_w + 30)
    height = 420
    img = np.full((height, width, 3), 255, np.uint8)
    draw_text(img, title, 10, 20, (0, 0, 0), 2)
    ax = _Axes(img, (70, 80, 270, n_groups * group_w), (min(values), max(values)))
    ax.frame(ylabel)
    for g, label in enumerate(groups):
        x = ax.left + g * group_w + 12
        for k, (name, vs) in enumerate(series.items()):
            if vs[g]:
                ax.rect(x + k * bar_w, x + (k + 1) * bar_w - 1, vs[g], _colour(name, k))
        tw = text_size(label, 1)[1]
        draw_text(img, label, ax.top + ax.h + 8, x + (bar_w * n_series - tw) // 2, (0, 0, 0))
    _legend(img, list(series), [_colour(n, k) for k, n in enumerate(series)], 34, 80)
    write_png(path, img)
    return "fastaug._png"


def _bar_matplotlib(path, groups, series, title, ylabel) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(series))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(7.0, 1.4 * len(groups) + 2), 4.5))
    x = np.arange(len(groups))
    for k, (name, vs) in enumerate(series.items()):
        ys = [v if v else np.nan for v in vs]
        ax.bar(x + (k - (n - 1) / 2) * width, ys, width, label=name,
               color=np.array(_colour(name, k)) / 255)
    ax.set_yscale("log")
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(n, 4))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- line panels (the sweep) -----------------------------------------------------------


def line_chart(path: str, panels: Sequence[dict], title: str,
               ylabel: str = "images/s") -> str:
    """Panels side by side, each with lines on a log y axis.

    Parameters
    ----------
    path : str
    panels : sequence of dict
        ``{"xlabel": str, "xlog": bool, "lines": {name: (xs, ys)}}``.
    title, ylabel : str

    Returns
    -------
    str
        What drew the chart.
    """
    if _have_matplotlib():
        _lines_matplotlib(path, panels, title, ylabel)
        return "matplotlib"
    pw, ph, gap = 300, 260, 90
    width = 40 + len(panels) * (pw + gap)
    img = np.full((ph + 150, width, 3), 255, np.uint8)
    draw_text(img, title, 10, 20, (0, 0, 0), 2)
    names: list[str] = []
    for k, panel in enumerate(panels):
        lines = panel["lines"]
        xs = [x for xv, _ in lines.values() for x in xv]
        ys = [y for _, yv in lines.values() for y in yv if y]
        if not xs or not ys:
            continue
        ax = _Axes(img, (70, 80 + k * (pw + gap), ph, pw), (min(ys), max(ys)),
                   (min(xs), max(xs)), panel.get("xlog", False))
        ax.frame(ylabel)
        for x in sorted(set(xs)):
            label = str(int(x)) if float(x).is_integer() else f"{x:g}"
            tw = text_size(label, 1)[1]
            draw_text(img, label, ax.top + ax.h + 6, ax.px(x) - tw // 2, (0, 0, 0))
            img[ax.top + ax.h:ax.top + ax.h + 4, ax.px(x)] = 0
        xl = panel["xlabel"]
        draw_text(img, xl, ax.top + ax.h + 22,
                  ax.left + (pw - text_size(xl, 1)[1]) // 2, (0, 0, 0))
        for name, (xv, yv) in lines.items():
            if name not in names:
                names.append(name)
            pts = [(x, y) for x, y in zip(xv, yv) if y]
            if pts:
                ax.line(*zip(*pts), _CYCLE[names.index(name) % len(_CYCLE)])
    _legend(img, names, [_CYCLE[k % len(_CYCLE)] for k in range(len(names))], ph + 120, 80)
    write_png(path, img)
    return "fastaug._png"


def _lines_matplotlib(path, panels, title, ylabel) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    names: list[str] = []
    for ax, panel in zip(axes[0], panels):
        for name, (xs, ys) in panel["lines"].items():
            if name not in names:
                names.append(name)
            c = np.array(_CYCLE[names.index(name) % len(_CYCLE)]) / 255
            ax.plot(xs, [y if y else np.nan for y in ys], "o-", label=name, color=c)
        if panel.get("xlog"):
            ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
