#!/bin/sh
files=$(ls *.txt)
for f in $files; do
  echo $f
done
if [ $1 == "x" ]; then
  cd /tmp
fi
read name
echo "Hello $name" | grep -c Hello
