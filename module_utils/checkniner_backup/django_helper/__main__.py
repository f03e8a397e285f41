"""python -m checkniner_backup.django_helper COMMAND ..., or the zipapp django_client.py builds of this package."""

import sys

from .commands import main

if __name__ == "__main__":
    main(sys.argv[1:])
