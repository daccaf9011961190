"""Data files this project made: the asset manifest, presets, configs, icons. Read with importlib.resources."""
