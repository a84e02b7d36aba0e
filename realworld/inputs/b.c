#include "common.h"
int b(void) { return COMMON; }
