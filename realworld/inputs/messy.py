x = {  'a':37,'b':42,
'c':927}
def  g( a, b = 2 ) :
  return a+b ;
class Foo  (     object  ):
  def f    (self   ):
    return       37*-+2
print( "hello",'world' )
