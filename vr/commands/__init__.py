"""Click commands, one module per area; `vr.cli.COMMANDS` names the top-level ones."""
