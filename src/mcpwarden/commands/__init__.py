"""One module per command: ``configure(parser)`` adds its arguments, ``main(args)`` runs it
and returns the exit code. Imported only when its command runs."""
