"""vcruntime140.dll: the compiler support runtime — the C++ exception machinery (cxx_eh: _CxxThrowException,
   __CxxFrameHandler3/4, RTTI), __C_specific_handler (c_specific) and the rest (runtime)."""
