/* ReLU's elementwise passes, compiled: equation (2) r = max(z, 0) and (4) dC_dz = dC_dr * Step(z).
 *
 * Each pass is one loop over the rows of 2-D float32 or float64 arrays (any strides), taken through
 * the buffer protocol, with the GIL released; with threads > 1 the rows are split among OpenMP's
 * threads (the libgomp team that MKL's products run on, when relunet._blas uses MKL on GNU OpenMP).
 * The arithmetic is IEEE (no fast-math): max(±0, 0) is +0, NaN stays NaN, and the step multiplies
 * dC_dr as the float 0, 1, Step(0) or, for NaN z, the caller's Step(NaN), as numpy's passes do.
 *
 * Each function returns False, writing nothing, where it cannot run the pass (other dtypes or
 * shapes, a read-only output, an output that overlaps an input without being it); numpy runs it then.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    Py_buffer view;
    int held;
    char kind; /* 'f' (float32) or 'd' (float64) */
} Array;

static void release(Array *a) {
    if (a->held) PyBuffer_Release(&a->view);
    a->held = 0;
}

/* Whether two entries of a 2-D array share memory (a view made with as_strided can). */
static int overlaps_itself(const Py_buffer *v) {
    Py_ssize_t n = v->shape[0], m = v->shape[1];
    Py_ssize_t s0 = v->strides[0] < 0 ? -v->strides[0] : v->strides[0];
    Py_ssize_t s1 = v->strides[1] < 0 ? -v->strides[1] : v->strides[1];
    if (n == 0 || m == 0) return 0;
    if (n == 1) return m > 1 && s1 < v->itemsize;
    if (m == 1) return s0 < v->itemsize;
    /* the inner axis must step at least an entry, the outer one at least a whole inner run */
    if (s1 <= s0) return s1 < v->itemsize || s0 < m * s1;
    return s0 < v->itemsize || s1 < n * s0;
}

/* A 2-D float32 ('f') or float64 ('d') array in native byte order, aligned, else 0 (and no error
 * set); an output must also be writable and not overlap itself. */
static int take(PyObject *obj, Array *a, int writable) {
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    a->held = 0;
    if (PyObject_GetBuffer(obj, &a->view, flags) != 0) {
        PyErr_Clear();
        return 0;
    }
    a->held = 1;
    const char *f = a->view.format;
    if (f[0] == '=' || f[0] == '@') f++;
    a->kind = f[0];
    Py_ssize_t item = a->view.itemsize;
    if (a->view.ndim != 2 || f[1] != '\0' || (f[0] != 'f' && f[0] != 'd') || (uintptr_t)a->view.buf % item ||
        a->view.strides[0] % item || a->view.strides[1] % item || (writable && overlaps_itself(&a->view))) {
        release(a);
        return 0;
    }
    return 1;
}

static int same_kind(const Array *a, const Array *b) {
    return a->kind == b->kind && a->view.shape[0] == b->view.shape[0] && a->view.shape[1] == b->view.shape[1];
}

/* out may be a itself (each entry is read before it is written) or lie apart from it. */
static int apart_or_same(const Array *a, const Array *out) {
    const Py_buffer *x = &a->view, *y = &out->view;
    if (x->buf == y->buf && x->strides[0] == y->strides[0] && x->strides[1] == y->strides[1]) return 1;
    if (x->shape[0] == 0 || x->shape[1] == 0) return 1;
    char *lo[2], *hi[2];
    const Py_buffer *v[2] = {x, y};
    for (int k = 0; k < 2; k++) {
        lo[k] = hi[k] = (char *)v[k]->buf;
        for (int d = 0; d < 2; d++) {
            Py_ssize_t reach = (v[k]->shape[d] - 1) * v[k]->strides[d];
            if (reach < 0) lo[k] += reach; else hi[k] += reach;
        }
        hi[k] += v[k]->itemsize;
    }
    return hi[0] <= lo[1] || hi[1] <= lo[0];
}

#define ROW(a, i) ((char *)(a)->view.buf + (i) * (a)->view.strides[0])
#define AT(T, row, a, j) (*(T *)((row) + (j) * (a)->view.strides[1]))

/* A row's loop, vectorized: its entries are independent (an output is its input or apart from it).
 * Without the pragma GCC leaves the one-thread loop of (4) scalar, with a branch per entry. GCC and
 * Clang honour it under -fopenmp or -fopenmp-simd; -fno-trapping-math (setup.py) lets GCC keep the
 * one-comparison steps below branch-free under either. */
#ifdef _MSC_VER
#define VECTOR_LOOP
#else
#define VECTOR_LOOP _Pragma("omp simd")
#endif

/* The loops over rows: on one thread, or with threads > 1 split among OpenMP's threads. */
#define ROWS(threads, n, ...)                                                      \
    if ((threads) > 1) {                                                           \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")          \
        for (Py_ssize_t i = 0; i < (n); i++) __VA_ARGS__                           \
    } else {                                                                       \
        for (Py_ssize_t i = 0; i < (n); i++) __VA_ARGS__                           \
    }

#define RELU(T)                                                                    \
    static void relu_row_##T(const T *z, T *out, Py_ssize_t m) {  \
        VECTOR_LOOP /* out is z or apart from it: no dependence between j */       \
        for (Py_ssize_t j = 0; j < m; j++) out[j] = z[j] <= 0 ? (T)0 : z[j];       \
    }                                                                              \
    static void relu_##T(const Array *z, const Array *out, int threads) {          \
        Py_ssize_t n = z->view.shape[0], m = z->view.shape[1];                     \
        if (z->view.strides[1] == sizeof(T) && out->view.strides[1] == sizeof(T)) { \
            ROWS(threads, n, { relu_row_##T((const T *)ROW(z, i), (T *)ROW(out, i), m); }) \
        } else {                                                                   \
            ROWS(threads, n, {                                                     \
                char *zr = ROW(z, i), *orow = ROW(out, i);                         \
                for (Py_ssize_t j = 0; j < m; j++) {                               \
                    T v = AT(T, zr, z, j);                                         \
                    AT(T, orow, out, j) = v <= 0 ? (T)0 : v;                       \
                }                                                                  \
            })                                                                     \
        }                                                                          \
    }

/* Step(v) as three selects, without branches, so that the loop vectorizes: 1 for v > 0, 0 for
 * v < 0, at_zero for v = 0, at_nan for NaN. */
#define STEP_TIMES(T)                                                                              \
    static inline T step_##T(T v, T at_zero, T at_nan) {                                          \
        T s = v > 0 ? (T)1 : (T)0;                                                                 \
        s = v == 0 ? at_zero : s;                                                                  \
        return v != v ? at_nan : s;                                                                \
    }                                                                                              \
    static void step_times_row_##T(const T *d, const T *z, T *out,                                 \
                                   Py_ssize_t m, T at_zero, T at_nan) {                           \
        /* out is d or z, or apart from them: no dependence between j. Step(0) = 1 or 0 with       \
         * Step(NaN) = 0 is one comparison (z >= 0, z > 0; false for NaN), the rest three selects */ \
        if (at_zero == 1 && at_nan == 0) {                                                         \
            VECTOR_LOOP for (Py_ssize_t j = 0; j < m; j++) out[j] = d[j] * (z[j] >= 0 ? (T)1 : (T)0); \
        } else if (at_zero == 0 && at_nan == 0) {                                                  \
            VECTOR_LOOP for (Py_ssize_t j = 0; j < m; j++) out[j] = d[j] * (z[j] > 0 ? (T)1 : (T)0); \
        } else {                                                                                   \
            VECTOR_LOOP for (Py_ssize_t j = 0; j < m; j++) out[j] = d[j] * step_##T(z[j], at_zero, at_nan); \
        }                                                                                          \
    }                                                                                              \
    static void step_times_##T(const Array *d, const Array *z, double at_zero_, double at_nan_,   \
                               const Array *out, int threads) {                                  \
        Py_ssize_t n = z->view.shape[0], m = z->view.shape[1];                                     \
        const T at_zero = (T)at_zero_, at_nan = (T)at_nan_;                                        \
        if (d->view.strides[1] == sizeof(T) && z->view.strides[1] == sizeof(T) &&                  \
            out->view.strides[1] == sizeof(T)) {                                                   \
            ROWS(threads, n, { step_times_row_##T((const T *)ROW(d, i), (const T *)ROW(z, i),     \
                                                  (T *)ROW(out, i), m, at_zero, at_nan); })        \
        } else {                                                                                   \
            ROWS(threads, n, {                                                                     \
                char *dr = ROW(d, i), *zr = ROW(z, i), *orow = ROW(out, i);                        \
                for (Py_ssize_t j = 0; j < m; j++)                                                 \
                    AT(T, orow, out, j) = AT(T, dr, d, j) * step_##T(AT(T, zr, z, j), at_zero, at_nan); \
            })                                                                                     \
        }                                                                                          \
    }

typedef float f32;
typedef double f64;
RELU(f32)
RELU(f64)
STEP_TIMES(f32)
STEP_TIMES(f64)

/* The number of threads asked for, between 1 and OpenMP's maximum; -1 with an error set. */
static int team(PyObject *threads) {
    long t = PyLong_AsLong(threads);
    if (t == -1 && PyErr_Occurred()) return -1;
#ifdef _OPENMP
    long most = omp_get_max_threads();
#else
    long most = 1;
#endif
    return (int)(t < 1 ? 1 : t > most ? most : t);
}

/* The GIL released for a pass long enough to be worth it (other Python threads may run). */
static PyThreadState *unlocked(const Array *z) {
    return z->view.shape[0] * z->view.shape[1] >= 16384 ? PyEval_SaveThread() : NULL;
}

/* relu(z, out, threads) -> bool: out = max(z, 0). */
static PyObject *relu(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "relu(z, out, threads) takes 3 arguments");
        return NULL;
    }
    int threads = team(args[2]);
    if (threads < 0) return NULL;
    Array z, out;
    if (!take(args[0], &z, 0)) Py_RETURN_FALSE;
    if (!take(args[1], &out, 1)) {
        release(&z);
        Py_RETURN_FALSE;
    }
    int ok = same_kind(&z, &out) && apart_or_same(&z, &out);
    if (ok) {
        PyThreadState *state = unlocked(&z);
        if (z.kind == 'd') relu_f64(&z, &out, threads); else relu_f32(&z, &out, threads);
        if (state) PyEval_RestoreThread(state);
    }
    release(&z);
    release(&out);
    return PyBool_FromLong(ok);
}

/* step_times(dC_dr, z, at_zero, at_nan, out, threads) -> bool: out = dC_dr * Step(z). */
static PyObject *step_times(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "step_times(dC_dr, z, at_zero, at_nan, out, threads) takes 6 arguments");
        return NULL;
    }
    double at_zero = PyFloat_AsDouble(args[2]);
    if (at_zero == -1.0 && PyErr_Occurred()) return NULL;
    double at_nan = PyFloat_AsDouble(args[3]);
    if (at_nan == -1.0 && PyErr_Occurred()) return NULL;
    int threads = team(args[5]);
    if (threads < 0) return NULL;
    Array d, z, out;
    if (!take(args[0], &d, 0)) Py_RETURN_FALSE;
    if (!take(args[1], &z, 0)) {
        release(&d);
        Py_RETURN_FALSE;
    }
    if (!take(args[4], &out, 1)) {
        release(&d);
        release(&z);
        Py_RETURN_FALSE;
    }
    int ok = same_kind(&z, &out) && same_kind(&d, &out) && apart_or_same(&z, &out) && apart_or_same(&d, &out);
    if (ok) {
        PyThreadState *state = unlocked(&z);
        if (z.kind == 'd') step_times_f64(&d, &z, at_zero, at_nan, &out, threads);
        else step_times_f32(&d, &z, at_zero, at_nan, &out, threads);
        if (state) PyEval_RestoreThread(state);
    }
    release(&d);
    release(&z);
    release(&out);
    return PyBool_FromLong(ok);
}

static PyObject *openmp(PyObject *self, PyObject *unused) {
#ifdef _OPENMP
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"relu", (PyCFunction)(void (*)(void))relu, METH_FASTCALL, "relu(z, out, threads) -> bool: out = max(z, 0)"},
    {"step_times", (PyCFunction)(void (*)(void))step_times, METH_FASTCALL,
     "step_times(dC_dr, z, at_zero, at_nan, out, threads) -> bool: out = dC_dr * Step(z)"},
    {"openmp", openmp, METH_NOARGS, "whether the passes were compiled with OpenMP (threads > 1 splits the rows)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_relu_passes", NULL, -1, methods};

/* setup.py defines it as the SHA-256 of this file, so that relunet._kernels can tell a stale build */
#ifndef SOURCE_SHA256
#define SOURCE_SHA256 ""
#endif

PyMODINIT_FUNC PyInit__relu_passes(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "source_sha256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
