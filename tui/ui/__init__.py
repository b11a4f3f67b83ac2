"""Textual UI: renders core objects, turns keys into core calls. One sub-package per job."""
