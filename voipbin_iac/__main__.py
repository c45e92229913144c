"""`python -m voipbin_iac` works like the `voipbin-iac` command."""

import sys

from .cli import main

sys.exit(main())
