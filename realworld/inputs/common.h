#define COMMON 2
