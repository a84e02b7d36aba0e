"""The API set schema: api-ms-win-* / ext-ms-win-* contract names -> host DLLs.

``schema.load_mapping()`` gives the mapping (extracted from Wine's apisetschema.dll by
tools/gen_apiset.py), ``schema.encode_v6()`` builds the Windows 10 (version 6) schema blob
that is mapped into a new process (PEB.ApiSetMap), and ``schema.ApiSetSchema`` decodes such a
blob and resolves names with the algorithm of ntdll's ApiSetResolveToHost.
"""
from .schema import ApiSetSchema, encode_v6, load_mapping, default_schema, resolve

__all__ = ["ApiSetSchema", "encode_v6", "load_mapping", "default_schema", "resolve"]
