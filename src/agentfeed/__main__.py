"""``python -m agentfeed``: the ``agentfeed`` command line (``agentfeed.cli``)."""

import sys

from agentfeed.cli import main

sys.exit(main())
