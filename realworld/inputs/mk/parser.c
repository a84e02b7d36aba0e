int parser(void) { return 0; }
