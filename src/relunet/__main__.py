"""``python -m relunet``: the same as the ``relunet`` command."""

import sys

from .cli import main

sys.exit(main())
