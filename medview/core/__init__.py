"""Pure Python + numpy core: no Qt, no torch."""
