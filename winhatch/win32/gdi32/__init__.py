"""gdi32.dll's exports winhatch implements."""
