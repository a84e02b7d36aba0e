"""secur32.dll / sspicli.dll: the SSPI function table (InitSecurityInterface)."""
