"""The multi-host test bed (network namespaces) and the fault cases run on it."""
