"""The shipped catalog: generated YAML (see ``build.py``) plus the labelled demo set in ``demo/``."""
