import sys

# ``python -m gospublic`` runs the command line, a program of gospublic.apps: this entry point is
# the one file of the package outside gospublic/apps/ that imports an app (tests/unit/test_layers.py).
from gospublic.apps.cli import main

sys.exit(main())
