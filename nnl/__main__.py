"""``python -m nnl ...`` runs the ``nnl`` command (used to start child processes with this interpreter)."""

import sys

from nnl.cli.main import main

sys.exit(main())
