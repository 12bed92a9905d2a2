"""``python -m wamd``: the command line."""

from wamd.cli import main

raise SystemExit(main())
