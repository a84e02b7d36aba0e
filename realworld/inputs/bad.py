import os
import sys


def f(x):
    y = 1
    if x == None:
        return sys.argv
    l = [1,2,3]
    return undefined_name
