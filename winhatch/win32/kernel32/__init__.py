"""kernel32.dll and kernelbase.dll: one module per area, as kernelbase is laid out (files, process, threads,
   sync, heap, console, codepages, ...). A handler decodes its arguments, calls the system service through ntdll
   as kernelbase does (Call.nt), and maps the NTSTATUS to its last error in one place (Call.set_last_nt_error)."""
