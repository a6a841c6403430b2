"""``python -m awa``: the same as the ``awa`` command."""

from __future__ import annotations

from awa.cli.main import main

raise SystemExit(main())
