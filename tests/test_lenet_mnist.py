"""LeNet trains on the bundled MNIST subset with the script an nnabla user would write (examples/mnist)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "mnist"))

import classification  # noqa: E402


def test_lenet_reaches_96_percent_in_5_epochs(tmp_path):
    accuracy = classification.train(epochs=5, seed=0, output=str(tmp_path), verbose=False)
    assert accuracy >= 0.96
    assert (tmp_path / "lenet_params.h5").exists()
