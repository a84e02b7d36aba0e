/* A small C++ API to wrap. */
#include <string>
namespace demo {
int gcd(int a, int b);
double average(const double *v, int n);
std::string greet(const std::string &name);
class Counter {
public:
  Counter(int start = 0);
  int next();
  static int instances();
private:
  int value_;
};
enum Color { RED, GREEN = 5, BLUE };
}
