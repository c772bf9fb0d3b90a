"""Fake outside services served by this project for the demo, development and tests:
the sandbox payment processor (``sandboxes.processor``) and the sandbox OpenWater
(``sandboxes.openwater``).

Installed and routed by the default and test settings; production settings leave them
out (see ``DEVELOPMENT_APPS`` in paycentral/settings.py).
"""
