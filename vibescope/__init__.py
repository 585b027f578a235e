"""vibescope's command line: `python -m vibescope <command>` (see `python -m vibescope --help`)."""
