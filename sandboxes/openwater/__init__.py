"""A fake OpenWater served by this project: the v2 endpoints the pushback client speaks,
over data that is paid and refunded while the demo runs (see store.py)."""
