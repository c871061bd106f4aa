"""The command line entry point."""
import numpy as np

from fastaug.__main__ import main, sample_image


def test_sample_image_ships_with_the_package():
    image = sample_image()
    assert image.dtype == np.uint8 and image.shape == (200, 300, 3)
    assert image.std() > 20  # a real photo, not a constant


def test_demo_runs_and_reports_throughput(capsys):
    assert main(["demo", "--batch", "4"]) == 0
    assert "images/s" in capsys.readouterr().out
