"""dnsapi.dll: DnsQuery over the fake internet's DNS server (dns)."""
