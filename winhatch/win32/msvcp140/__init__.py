"""msvcp140.dll: the C++ standard library objects and functions (std::cout and friends as real objects)."""
