"""`python -m normlab`: the same command line as the `normlab` script."""

from normlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
