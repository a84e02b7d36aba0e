"""userenv.dll\x27s exports winhatch implements."""
