#!/usr/bin/env python
"""Django's command-line utility for Skylark."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from audit.context import acting_from_shell

    with acting_from_shell():  # what a command changes is logged as the shell user's doing
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
