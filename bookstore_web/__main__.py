"""``python -m bookstore_web serve``: the same as the ``bookstore-web`` command."""

import sys

from .cli import main

sys.exit(main())
