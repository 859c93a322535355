"""``python -m taskboard``: the ``taskboard`` command."""

import sys

from taskboard.cli import main

sys.exit(main())
