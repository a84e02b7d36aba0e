"""iphlpapi.dll: the machine's one adapter and the loopback (adapters)."""
