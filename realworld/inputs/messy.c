#include <stdio.h>
static int add(int a,int b){return a+b;}
int main(int argc,char**argv){
    for(int i=0;i<argc;i++){ if(i%2==0) printf("%s\n",argv[i]); else {printf("odd\n");} }
  return add(1,
  2);}
