"""winmm.dll's exports winhatch implements."""
