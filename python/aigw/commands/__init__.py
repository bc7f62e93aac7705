"""Subcommands of `aigw`, one module each; cli.py adds them to the group."""
