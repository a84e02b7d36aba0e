function  sum(a,b){ return a+b }
const  list=[1,2,3].map( x=>x*2 )
console.log( sum( 1,2 ), list )
var unusedVariable = 1;
if (list == null) { console.log("never") }
debugger;
