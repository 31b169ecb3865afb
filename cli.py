"""Launch implkit from a checkout: `python cli.py --help`."""

from implkit.cli import main

if __name__ == "__main__":
    main()
