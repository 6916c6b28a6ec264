import sys

from gospublic.cli import main

sys.exit(main())
