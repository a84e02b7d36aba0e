#!/bin/bash
if [ -f "$1" ]; then
echo "file"
    for i in 1 2 3; do echo $i; done
else
  case "$1" in
  a) echo A;;
      b)   echo B ;;
  esac
fi
function f() { local x=1; echo $((x+2)); }
