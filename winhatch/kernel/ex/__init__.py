"""The executive support services (system information, atoms, locales …) of the kernel."""
