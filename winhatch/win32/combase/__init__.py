"""combase.dll's exports winhatch implements."""
