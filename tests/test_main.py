"""The command line entry point: demo, preview, the PNG writer and the bitmap font."""
import json
import os
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

import fastaug as fa
from fastaug.__main__ import load_pipeline, main, make_grid, sample_image
from fastaug._png import draw_text, encode_png, text_size


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run every test in a fresh directory (the demo writes into the cwd by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_png(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image[..., ::-1] if image.ndim == 3 else image


def test_sample_image_ships_with_the_package():
    image = sample_image()
    assert image.dtype == np.uint8 and image.shape == (200, 300, 3)
    assert image.std() > 20  # a real photo, not a constant


def test_demo_runs_and_reports_throughput(capsys, in_tmp):
    assert main(["demo", "--batch", "4"]) == 0
    assert "images/s" in capsys.readouterr().out
    grid = read_png(in_tmp / "fastaug_demo.png")
    assert grid.ndim == 3 and grid.shape[0] > 3 * 200 and grid.shape[1] > 4 * 300
    # Panel 1 is the original photo, below its label.
    image = sample_image()
    top, left = 6 + 22, 6
    assert np.array_equal(grid[top:top + 200, left:left + 300], image)


def test_demo_output_option_and_module_entry_point(in_tmp):
    root = os.path.dirname(os.path.dirname(os.path.abspath(fa.__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "fastaug", "demo", "--batch", "2", "-o",
                             "grid.png", "--threads", "1"], capture_output=True, text=True,
                            cwd=in_tmp, env=env)
    assert result.returncode == 0, result.stderr
    assert "1 threads" in result.stdout and (in_tmp / "grid.png").stat().st_size > 10000


def test_preview_with_json_and_module_pipelines(capsys, in_tmp):
    image = sample_image()[:120, :150]
    np.save(in_tmp / "img.npy", image)
    cv2.imwrite(str(in_tmp / "img.png"), image[..., ::-1])
    aug = fa.Compose([fa.RandomResizedCrop(64), fa.HorizontalFlip(), fa.ColorJitter(0.3),
                      fa.Normalize(layout="NCHW")], seed=4)
    (in_tmp / "pipe.json").write_text(json.dumps(aug.to_config()))
    assert main(["preview", "img.npy", "--pipeline", "pipe.json", "-o", "a.png", "-n", "3"]) == 0
    grid = read_png(in_tmp / "a.png")
    assert grid.shape[0] > 120
    assert main(["preview", "img.png", "--pipeline", "pipe.json", "-o", "b.png", "-n", "3"]) == 0
    assert np.array_equal(read_png(in_tmp / "b.png"), grid)
    assert main(["preview", "img.npy", "--pipeline", "test_main:PIPELINE", "-o", "c.png",
                 "--seed", "3"]) == 0
    assert load_pipeline("test_main:PIPELINE", seed=3).seed == 3
    assert "wrote c.png" in capsys.readouterr().out


PIPELINE = [fa.Rotate(20), fa.ChannelShift(30)]


def test_preview_errors(capsys, in_tmp):
    np.save(in_tmp / "img.npy", sample_image())
    (in_tmp / "bad.json").write_text("{not json")
    assert main(["preview", "img.npy", "--pipeline", "bad.json"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["preview", "img.npy", "--pipeline", "nowhere"]) == 2
    assert main(["preview", "img.npy", "--pipeline", "fastaug:nothing_here"]) == 2
    assert main(["preview", "missing.png", "--pipeline", "test_main:PIPELINE"]) == 2
    (in_tmp / "p.json").write_text(json.dumps([{"name": "Rotate", "limit": -3}]))
    assert main(["preview", "img.npy", "--pipeline", "p.json"]) == 2
    assert "limit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--batch", "0"])


def test_png_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (5, 7, 1), (3, 4, 3), (6, 2, 4)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        data = encode_png(image)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image.ndim == 3 and image.shape[2] == 3:
            decoded = decoded[..., ::-1]
        elif image.ndim == 3 and image.shape[2] == 4:
            decoded = decoded[..., [2, 1, 0, 3]]
        assert np.array_equal(decoded.reshape(image.shape), image)
        # The IDAT payload is the rows, each after a 0 filter byte.
        idat = data.index(b"IDAT")
        length = int.from_bytes(data[idat - 4:idat], "big")
        raw = zlib.decompress(data[idat + 4:idat + 4 + length])
        assert raw[0] == 0
    with pytest.raises(TypeError):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2, 2), np.uint8))


def test_bitmap_text():
    image = np.zeros((20, 40, 3), np.uint8)
    draw_text(image, "Hi", 2, 3, (255, 0, 0))
    assert text_size("Hi") == (7, 11)
    ys, xs = np.nonzero(image[..., 0])
    assert ys.min() == 2 and ys.max() == 8 and xs.min() == 3 and xs.max() == 12  # "I" is 3 wide
    assert not image[..., 1:].any()
    # "H" has two full columns; clipping at the border does not fail.
    assert image[2:9, 3, 0].all() and image[2:9, 7, 0].all()
    draw_text(image, "clipped ~", 15, 30, 255, scale=2)
    grid = make_grid([("a", np.zeros((10, 12), np.uint8)), ("b", np.ones((8, 8, 4), np.uint8))])
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
