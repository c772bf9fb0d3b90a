"""A fake payment processor served by this project, for the demo, development and tests.

It speaks HTTP and JSON like a real provider (API keys, idempotency keys, test tokens
with documented outcomes) so that the processor adapters are tested over the wire.
See README.md beside this file.
"""
