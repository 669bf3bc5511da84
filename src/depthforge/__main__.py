import sys

from depthforge.cli.main import main

sys.exit(main())
