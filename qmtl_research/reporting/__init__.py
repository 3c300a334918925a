"""Reporting: run context for notebooks, papermill runner, renderer, versions."""
