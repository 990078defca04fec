/* The library many_libs loads hundreds of copies of: built -O2 without frame pointers, as
 * distributions build. lib_work -> lib_spin; neither inlined nor a tail call. */
static volatile unsigned long lib_sink;

__attribute__((noinline)) unsigned long lib_spin(unsigned long x)
{
  for (unsigned long i = 0; i < 2000000UL; i++)
    x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) unsigned long lib_work(unsigned long x)
{
  unsigned long r = lib_spin(x ^ 0x33);
  lib_sink = r;
  return r + 5;
}
