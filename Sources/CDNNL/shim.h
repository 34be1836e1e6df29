// oneDNN 2.x's C API (Debian: libdnnl-dev puts oneapi/dnnl/dnnl.h on the default include path).
#include <oneapi/dnnl/dnnl.h>
// Macros Swift cannot import as values.
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
static const int CDNNL_ARG_SRC = DNNL_ARG_SRC;
static const int CDNNL_ARG_DST = DNNL_ARG_DST;
static const int CDNNL_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int CDNNL_ARG_BIAS = DNNL_ARG_BIAS;
static const int CDNNL_ARG_SCRATCHPAD = DNNL_ARG_SCRATCHPAD;
static const int CDNNL_ARG_FROM = DNNL_ARG_FROM;
static const int CDNNL_ARG_TO = DNNL_ARG_TO;
// Debian's oneDNN runs on OpenMP (libgomp): a primitive's thread count follows the creating and
// the executing thread's OpenMP setting.
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
