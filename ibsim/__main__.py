"""``python -m ibsim``: the command line."""
import sys

from ibsim.cli import main

sys.exit(main())
