"""Training machinery: configs, run dirs, checkpoints, logging, evaluation, subcommands."""
