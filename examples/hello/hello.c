/* The demo program: prints its arguments and returns 42. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("Hello from winhatch! argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);
    return 42;
}
