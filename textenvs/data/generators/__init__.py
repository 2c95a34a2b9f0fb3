"""The built-in dataset generators, one module per task and version (``translation``, ``translation_v1``, ...);
:mod:`textenvs.data.builtin` is their registry and the only way to load their data."""
