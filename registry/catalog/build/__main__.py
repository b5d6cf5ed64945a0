"""``python -m registry.catalog.build``."""

import sys

from registry.catalog.build import main

sys.exit(main())
