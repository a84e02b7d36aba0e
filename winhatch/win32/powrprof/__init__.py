"""powrprof.dll's exports winhatch implements."""
