"""Root pytest configuration: shared by the unit tests (tests/) and nbval (chapters/).

Environment set here is inherited by the Jupyter kernels nbval starts (and by every other subprocess),
so notebooks run under the same conditions as the tests:

* TensorFlow's C++ start-up chatter is silenced (it would land in notebook outputs and stderr).
* The network is off: tests/support/netguard/ goes first on PYTHONPATH, and its sitecustomize.py
  makes any non-loopback connection raise ``OSError("network disabled by gruseg tests: ...")`` in
  every Python process started from here; the same guard is installed in this process below.

MPLBACKEND is deliberately NOT set: headless matplotlib picks Agg on its own, and setting it would
replace the inline backend in nbval's kernels (figures would not be drawn and ``plt.show()`` would
warn on stderr).
"""

import os
import sys
from pathlib import Path

# TensorFlow 2.21 prints C++ start-up logs unless both are set.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

_NETGUARD = Path(__file__).resolve().parent / "tests" / "support" / "netguard"
if str(_NETGUARD) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_NETGUARD), os.environ.get("PYTHONPATH", "")) if p)
if str(_NETGUARD) not in sys.path:
    sys.path.insert(0, str(_NETGUARD))

import gruseg_netguard  # noqa: E402  (needs the path above)

gruseg_netguard.install()

# The book is built once per session and shared by tests/test_book.py and tests/test_browser.py.
pytest_plugins = ["tests.support.bookbuild"]
