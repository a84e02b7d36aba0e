"""winhatch — an emulator of how Windows gives birth to a process."""

__version__ = "0.1.0"
