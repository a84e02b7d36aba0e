"""The configuration manager: the registry (see registry.py)."""
from .registry import *  # noqa: F401,F403
from .registry import Registry, RegKey, decode, encode  # noqa: F401
