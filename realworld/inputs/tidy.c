int clamp(int v, int lo, int hi) {
  if (v < lo)
    return lo;
  if (v > hi)
    return hi;
  while (v > 100)
    v--;
  return v;
}
