"""Click commands, one module per area; `vr.cli` registers every module's `COMMANDS`."""
