"""Spiders: the generic page spider now; one module per platform later."""
