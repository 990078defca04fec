/* Loads the library named by CUDA_INJECTION64_PATH and calls InitializeInjection, as the CUDA
 * driver does in cuInit. Prints "rc=<value>"; exits 0 when the application could carry on. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
  const char *path = getenv("CUDA_INJECTION64_PATH");
  if (!path) {
    fprintf(stderr, "CUDA_INJECTION64_PATH not set\n");
    return 2;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return 3;
  }
  int (*init)(void) = (int (*)(void))dlsym(h, "InitializeInjection");
  if (!init) {
    fprintf(stderr, "InitializeInjection not exported\n");
    return 4;
  }
  int rc = init();
  int rc2 = init(); /* idempotent: the driver may call it again from another context */
  printf("rc=%d rc2=%d\n", rc, rc2);
  fflush(stdout);
  return 0;
}
