#define SQ(x) ((x)*(x))
int f(int a){return SQ(a+1);}
#if SQ(3) == 9
int nine;
#endif
