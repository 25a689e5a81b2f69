"""``python -m livebase`` is the ``livebase`` command."""

from livebase.cli.main import main

raise SystemExit(main())
