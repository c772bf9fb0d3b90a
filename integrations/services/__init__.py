"""Invoice sync services: one transaction each (the processor is called between them)."""
