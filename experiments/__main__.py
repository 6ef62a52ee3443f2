"""`python -m experiments`: see experiments/cli.py, or run it with --help."""
from .cli import main

raise SystemExit(main())
