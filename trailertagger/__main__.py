import sys

from trailertagger.cli.main import main

sys.exit(main())
