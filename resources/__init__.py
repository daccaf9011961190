"""Data files this project made: the asset manifest, presets, configs, icons.

Read them with importlib.resources."""
