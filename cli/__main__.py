import sys

from chargeplane.cli import main

sys.exit(main())
