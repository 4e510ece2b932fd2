import sys

from kaizen_tui.cli.program import main

sys.exit(main())
