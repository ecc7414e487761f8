"""Make ``fastnn`` and the ``bench`` helpers importable when pytest runs ``bench/``
from a source checkout (the package is built in place, not installed)."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
