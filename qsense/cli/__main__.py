"""``python -m qsense.cli``."""

import sys

from . import main

sys.exit(main())
