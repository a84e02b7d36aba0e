"""bcrypt.dll: the CNG primitives programs use (random numbers, hashes, HMAC)."""
