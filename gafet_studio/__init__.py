"""GaFET Studio: the PySide6 application and the command-line interface.

Importing this package does not import Qt; the CLI (``gafet_studio.cli``) runs without a display.
"""
