"""``python -m bookstore_api.cli``: the same as the ``bookstore`` command."""

import sys

from . import main

sys.exit(main())
