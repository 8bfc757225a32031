"""``python -m gruseg``: the command line (see :mod:`gruseg.cli`)."""

from gruseg.cli import main

raise SystemExit(main())
