"""The benchmark command line on a tiny batch: table, JSON and PNG well-formed, in seconds."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from fastaug.__main__ import main as fastaug_main
from fastaug.bench import main
from fastaug.bench.chart import bar_chart, line_chart
from fastaug.bench.cli import sweep_points

pytest.importorskip("cv2")  # the per-image OpenCV loop is one of the two libraries timed


def read_png(path) -> np.ndarray:
    """Check the chunks (CRCs, IHDR, IEND) of an 8-bit RGB(A) PNG and decode it."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kind == b"IEND"
    w, h, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    c = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * c)
    if not raw[:, 0].any():  # fastaug._png writes every row unfiltered
        return raw[:, 1:].reshape(h, w, c)
    import cv2  # filtered rows (matplotlib): let OpenCV undo the filters

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


ARGS = ["--batch", "4", "--size", "32", "--libs", "fastaug,opencv", "--workloads", "flip,rrc",
        "--repeat", "2", "--quiet"]


def test_cli_table_json_png(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(ARGS + ["--out", str(out)]) == 0
    table = capsys.readouterr().out
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("| workload | threads | library | images/s")
    assert set(lines[1]) <= set("|-")
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert [(r[0], r[2].split()[0]) for r in body] == [
        ("flip", "fastaug"), ("flip", "OpenCV"), ("rrc", "fastaug"), ("rrc", "OpenCV")]
    assert all(r[1] == "1" and float(r[3].replace(",", "")) > 0 for r in body)
    assert body[0][5] == "1.00x"

    result = json.loads((out / "bench.json").read_text())
    env = result["environment"]
    for key in ("cpu_model", "cpus_available", "versions", "OMP_NUM_THREADS", "date"):
        assert key in env
    assert env["versions"]["numpy"] == np.__version__
    assert result["config"]["libs"] == ["fastaug", "opencv"]
    rows = result["rows"]
    assert len(rows) == 4
    for r in rows:
        assert len(r["runs_ms"]) == 2 and r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["thread_settings"]["fastaug"] == 1 and r["thread_settings"]["cv2"] == 1
        assert r["images_per_s"] == pytest.approx(4 / r["median_ms"] * 1e3)
    assert (out / "bench.md").read_text().strip() == table.strip()

    png = read_png(out / "bench.png")
    assert png.shape[0] > 100 and png.shape[1] > 100
    assert (png[..., :3] != 255).any(axis=-1).mean() > 0.01  # something was drawn


def test_fastaug_bench_subcommand(tmp_path, capsys):
    out = tmp_path / "sub"
    assert fastaug_main(["bench"] + ARGS + ["--workloads", "flip", "--out", str(out)]) == 0
    assert "| flip | 1 | fastaug" in capsys.readouterr().out
    assert (out / "bench.json").exists() and (out / "bench.png").exists()


def test_missing_library_is_skipped_with_a_note(tmp_path, capsys, monkeypatch):
    from fastaug.bench import peers

    def missing(spec, threads):
        raise peers.Skip("kornia not installed (test)")

    monkeypatch.setitem(peers.ADAPTERS, "kornia", missing)
    out = tmp_path / "skip"
    assert main(ARGS + ["--libs", "fastaug,kornia", "--workloads", "flip",
                        "--out", str(out)]) == 0
    assert "Skipped: kornia: kornia not installed (test) (flip)" in capsys.readouterr().out
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert rows[1] == {**rows[1], "library": "kornia", "skipped": "kornia not installed (test)"}


def test_bad_options_exit_with_usage(capsys):
    for bad in (["--libs", "nope"], ["--workloads", "flip,zz"], ["--threads", "0"]):
        with pytest.raises(SystemExit) as e:
            main(bad)
        assert e.value.code == 2
    assert "choose from" in capsys.readouterr().err


def test_sweep_axes():
    pts = sweep_points(256, 224, 1)
    assert [b for a, b, _, _ in pts if a == "batch"] == [1, 4, 16, 64, 256, 1024]
    assert [s for a, _, s, _ in pts if a == "size"] == [64, 128, 256, 512, 1024]
    assert [t for a, _, _, t in pts if a == "threads"][0] == 1


def test_own_png_charts(tmp_path, monkeypatch):
    from fastaug.bench import chart

    monkeypatch.setattr(chart, "_have_matplotlib", lambda: False)
    assert bar_chart(str(tmp_path / "b.png"), ["a", "b"],
                     {"fastaug": [1e4, 2e3], "opencv": [5e3, None]}, "t") == "fastaug._png"
    assert line_chart(str(tmp_path / "l.png"),
                      [{"xlabel": "batch", "xlog": True,
                        "lines": {"flip": ([1, 4, 16], [10.0, 100.0, 900.0])}}],
                      "t") == "fastaug._png"
    for name in ("b.png", "l.png"):
        img = read_png(tmp_path / name)
        assert img.ndim == 3 and (img != 255).any()
