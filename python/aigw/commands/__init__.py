"""The CLI's commands, one module each; `aigw.cli` adds them to the `aigw` group."""
