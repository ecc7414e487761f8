"""`python -m fastnn` runs the command line (see fastnn.cli)."""
import sys

from fastnn.cli import main

if __name__ == "__main__":
    sys.exit(main())
