"""The benchmark scripts still load: one that shares code with another breaks when it changes."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_a_bench_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    for name in [n for n in sys.modules if n == script]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module(script)
    assert callable(getattr(module, "main", None)), f"bench/{script}.py has no main()"
