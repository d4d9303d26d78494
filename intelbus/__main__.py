import sys

from intelbus.cli import main

sys.exit(main())
