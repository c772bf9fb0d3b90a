"""Staff UI views of the finance app: they parse input, call a service, render."""
