"""shcore.dll's exports winhatch implements."""
