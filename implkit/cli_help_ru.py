"""Russian `--help` texts (see cli_help.py): per command path, and once for the options many commands share."""

COMMANDS: dict = {}
SHARED: dict = {}
