"""``python -m experimentkit`` is the ``experimentkit`` command."""

from experimentkit.cli.main import main

raise SystemExit(main())
