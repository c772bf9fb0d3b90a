"""Fake outside services served by this project for the demo, development and tests:
the sandbox payment processor (``sandboxes.processor``) and the sandbox OpenWater
(``sandboxes.openwater``).
"""
