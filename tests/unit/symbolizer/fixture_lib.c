/* A shared library for the symbolizer tests: a local function that only .symtab (or a separate
 * debug file, once stripped) names, reachable through an exported accessor. */
static __attribute__((noinline)) int zt_fixture_hidden(int x) { return x * 7 + 3; }

typedef int (*zt_fixture_fn)(int);

__attribute__((visibility("default"))) zt_fixture_fn zt_fixture_hidden_address(void) {
  return zt_fixture_hidden;
}
