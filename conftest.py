"""Root pytest configuration: shared by the unit tests (tests/) and nbval (chapters/).

Environment set here is inherited by the Jupyter kernels nbval starts, so notebooks run under
the same conditions as the tests.
"""

import os

# TensorFlow 2.21 prints C++ start-up logs unless both are set; they would otherwise land in
# notebook outputs and in nbval's stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
