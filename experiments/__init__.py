"""experiments: runnable experiments and the `python -m experiments` command line."""
