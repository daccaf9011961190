"""The ``gafet`` command line. Each sub-command lives in its own ``*_cmd`` module."""
