"""``python -m torchgeo_inr``: the same command line as ``torchgeo-inr``."""

import sys

from .cli import main

sys.exit(main())
