"""The ``nnl`` command: one module per subcommand, each exposing ``add_arguments(parser)`` and ``run(args)``."""
