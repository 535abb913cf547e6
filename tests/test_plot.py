"""Heatmaps saved as PNG with matplotlib (the ``plot`` extra, installed by .ci/run)."""

from __future__ import annotations

import sys

import pytest
from gradcheck.reference_models import affine
from gradcheck.reference_models.buggy import conv
from pictures import colours, decode_png, rgb

import gradcheck as gc
from gradcheck.errors import GradcheckError
from gradcheck.report.plot import OUTLINE, save_heatmaps

CONV_DIMS = {"N": 1, "C": 2, "F": 3, "H": 5, "W": 5, "HH": 3, "WW": 3, "S": 2, "P": 0}


def test_a_png_with_the_wrong_entries_framed(tmp_path):
    report = gc.check_at(conv.conv_backward_ignoring_stride, CONV_DIMS, seed=0)
    for source in (report, report.to_dict()):  # a Report or its JSON record
        out = save_heatmaps(source, tmp_path / "sub" / "conv.png")
        width, height, rows = image = decode_png(out.read_bytes())
        assert width > 300 and height > 300
        counts = colours(image)
        frame = rgb(OUTLINE)  # drawn antialiased: count the pixels close to it
        framed = sum(n for c, n in counts.items() if sum(abs(a - b) for a, b in zip(c, frame)) < 60)
        assert len(counts) > 50 and framed > 200


def test_nothing_to_draw_and_no_matplotlib_are_clear_errors(tmp_path, monkeypatch):
    passing = gc.check(affine.affine_backward, seed=0, examples=5)
    with pytest.raises(GradcheckError, match="no wrong parameter"):
        save_heatmaps(passing, tmp_path / "ok.png")
    failing = gc.check(affine.affine_backward_mean_bias, seed=0, examples=20)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    with pytest.raises(GradcheckError, match=r"pip install 'gradcheck\[plot\]'"):
        save_heatmaps(failing, tmp_path / "bias.png")
