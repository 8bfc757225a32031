"""Imported by Python at start-up in every process whose PYTHONPATH starts with this folder.

The root conftest.py puts it there while the tests run, so Jupyter kernels (nbval, nbclient, the
book build) cannot reach the network either. See gruseg_netguard.py.
"""

try:
    import gruseg_netguard

    gruseg_netguard.install()
except Exception as exc:  # never stop an interpreter from starting; test_isolation.py checks the guard
    import sys

    print(f"gruseg sitecustomize: network guard not installed: {exc!r}", file=sys.stderr)
