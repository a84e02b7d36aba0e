"""advapi32.dll: the registry (reg), tokens and privileges (token), CryptoAPI (crypt)."""
