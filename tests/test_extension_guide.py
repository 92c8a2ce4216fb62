"""docs/extensions.md: the example extension of the guide, installed through a real entry point, works as described."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
from nnl.backends import report
from nnl.ext_utils import get_extension_context, list_extensions

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "extensions.md"


@pytest.fixture
def demo_extension(tmp_path, monkeypatch):
    """Install the guide's example as a distribution on sys.path (module + dist-info with the entry point)."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    source = next(b for b in blocks if b.startswith('"""nnl_demo_ext'))
    (tmp_path / "nnl_demo_ext.py").write_text(source)
    info = tmp_path / "nnl_demo_ext-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nnl-demo-ext\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nnl.extensions]\ndemo = nnl_demo_ext\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("nnl_demo_ext", None)


def test_the_guide_example_extension_is_discovered_and_used(demo_extension):
    assert "demo" in list_extensions()
    ctx = get_extension_context("demo")
    assert ctx.backend == ["demo:float", "cpu:float"]
    x = nn.Variable.from_numpy_array(np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32), need_grad=True)
    with nn.context_scope(ctx):
        y = F.sum(F.relu(x) * 2.0)
    y.forward()
    y.backward()
    assert float(y.d) == 12.0
    np.testing.assert_array_equal(x.g, [[0, 2, 0, 2]])
    uses = {u.function: u.implementation for u in report(y)}
    assert uses["ReLU"] == "demo:float" and uses["MulScalar"] == "cpu:float"
