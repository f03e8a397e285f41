#!/usr/bin/env python
"""A second, unrelated Django project: the backup must work for projects it has never seen."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
