/* A ReLU-family network's layer loop in C: equations (1)-(2) forward and (4)-(6) backward for every layer
 * in one call, on a team of OpenMP threads, the products through a cblas ?gemm passed in by address
 * (MKL's, relunet._fast.blas).
 *
 * The rows of a batch are independent in (1), (2), (4) and (5): each thread runs those equations
 * for its own block of rows through every layer, with no synchronisation. Only (6) sums over rows:
 * the backward pass goes down in blocks of layers; after a block's (5) and (4) the threads meet
 * once and share the block's (6) products layer by layer (layer k on thread k mod T), each one
 * product over all rows. Which thread does what depends only on n, L and T, so a call's results
 * are the same bits every time.
 *
 * Operands, by address (int64 arrays of pointers, one per layer, row-major):
 *   A[k]   (n, m_k + bias), row stride m_k + bias: [r[k], 1]; r[k+1] is written into A[k+1]'s first m_{k+1} columns
 *   Wb[k]  (m_k + bias, m_{k+1}) contiguous: [W[k]; b[k]]
 *   z[k]   (n, m_k) contiguous, k = 1 ... L;  dz[k], dr[k] likewise (dr[k] may be dz[k])
 *   dW[k]  (m_k + bias, m_{k+1}) contiguous: [dC_dW[k]; dC_db[k]]
 *
 * The hidden activation is piecewise linear: f(z) = gain * z for z > 0, gain * (slope * z) otherwise
 * (ReLU: slope 0, gain 1; a leaky ReLU; TAT's scaled leaky ReLU), and f'(z) is d_pos, d_neg, d_zero or
 * d_nan for z > 0, z < 0, z = 0 and z NaN: the values of the activation's own derivative, so that (2)
 * and (4) round as the textbook's do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*sgemm_t)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*dgemm_t)(int, int, int, int, int, int, double, const double *, int, const double *, int, double, double *, int);

/* The layers of (6) a thread takes after each block of (5)-(4): a block's operands are still in
 * cache then. */
#define BLOCK 8

typedef struct {
    double slope, gain, d_pos, d_neg, d_zero, d_nan;
} Pieces;

typedef struct {
    int L, n, threads, bias;
    const int64_t *m;  /* m_0 ... m_L */
    void *const *A, *const *Wb, *const *z, *const *dz, *const *dr, *const *dW;
} Net;

/* Thread t's rows [lo, hi): n split into T blocks of nearly equal size. */
static void rows_of(int n, int T, int t, int *lo, int *hi) {
    *lo = (int)((int64_t)n * t / T);
    *hi = (int)((int64_t)n * (t + 1) / T);
}

#define CHAIN(T, gemm_t, SUFFIX)                                                                        \
    static void forward_##SUFFIX(const Net *net, gemm_t gemm, const Pieces *f) {                                         \
        _Pragma("omp parallel num_threads(net->threads)")                                               \
        {                                                                                               \
            int t = 0, lo, hi;                                                                          \
            _OMP_THREAD(t);                                                                             \
            rows_of(net->n, net->threads, t, &lo, &hi);                                                 \
            int rows = hi - lo, relu = f->slope == 0 && f->gain == 1;                                   \
            const T slope = (T)f->slope, gain = (T)f->gain;                                             \
            for (int k = 0; k < net->L && rows > 0; k++) {                                              \
                int K = (int)net->m[k] + net->bias, N = (int)net->m[k + 1];                             \
                const T *A = (const T *)net->A[k] + (int64_t)lo * K;                                    \
                T *z = (T *)net->z[k + 1] + (int64_t)lo * N;                                            \
                gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, rows, N, K, 1, A, K, (const T *)net->Wb[k], N, 0, z, N); /* (1) */ \
                if (k + 1 == net->L) break;                                                             \
                int ld = N + net->bias;                                                                 \
                T *r = (T *)net->A[k + 1] + (int64_t)lo * ld;                                           \
                for (int i = 0; i < rows; i++) {                                                        \
                    const T *zi = z + (int64_t)i * N;                                                   \
                    T *ri = r + (int64_t)i * ld;                                                        \
                    if (relu) {                                                                         \
                        _Pragma("omp simd")                                                             \
                        for (int j = 0; j < N; j++) ri[j] = zi[j] <= 0 ? (T)0 : zi[j]; /* (2) */        \
                    } else {                                                                            \
                        _Pragma("omp simd")                                                             \
                        for (int j = 0; j < N; j++) ri[j] = gain * (zi[j] > 0 ? zi[j] : slope * zi[j]); \
                    }                                                                                   \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
    static void backward_##SUFFIX(const Net *net, gemm_t gemm, const Pieces *f) {                   \
        _Pragma("omp parallel num_threads(net->threads)")                                               \
        {                                                                                               \
            int t = 0, lo, hi;                                                                          \
            _OMP_THREAD(t);                                                                             \
            rows_of(net->n, net->threads, t, &lo, &hi);                                                 \
            int rows = hi - lo;                                                                         \
            const T d_pos = (T)f->d_pos, d_neg = (T)f->d_neg, d_zero = (T)f->d_zero, d_nan = (T)f->d_nan; \
            int step = d_pos == 1 && d_neg == 0 && d_nan == 0; /* ReLU with Step(0) = 1 or 0 */          \
            for (int top = net->L - 1; top >= 0; top -= BLOCK) {                                        \
                int bottom = top - BLOCK + 1 < 0 ? 0 : top - BLOCK + 1;                                 \
                for (int k = top; k >= bottom && k >= 1 && rows > 0; k--) {                             \
                    int N = (int)net->m[k], K = (int)net->m[k + 1];                                     \
                    const T *dz1 = (const T *)net->dz[k + 1] + (int64_t)lo * K;                         \
                    T *dr = (T *)net->dr[k] + (int64_t)lo * N, *dz = (T *)net->dz[k] + (int64_t)lo * N; \
                    const T *z = (const T *)net->z[k] + (int64_t)lo * N;                                \
                    gemm(ROW_MAJOR, NO_TRANS, TRANS, rows, N, K, 1, dz1, K, (const T *)net->Wb[k], K, 0, dr, N); /* (5) */ \
                    int64_t count = (int64_t)rows * N;                                                  \
                    if (step && d_zero == 1) {                                                  \
                        _Pragma("omp simd")                                                             \
                        for (int64_t j = 0; j < count; j++) dz[j] = dr[j] * (z[j] >= 0 ? (T)1 : (T)0); /* (4) */ \
                    } else if (step && d_zero == 0) {                                           \
                        _Pragma("omp simd")                                                             \
                        for (int64_t j = 0; j < count; j++) dz[j] = dr[j] * (z[j] > 0 ? (T)1 : (T)0);   \
                    } else {                                                                            \
                        _Pragma("omp simd")                                                             \
                        for (int64_t j = 0; j < count; j++) {                                           \
                            T v = z[j], s = v > 0 ? d_pos : d_neg;                                      \
                            s = v == 0 ? d_zero : s;                                                    \
                            dz[j] = dr[j] * (v != v ? d_nan : s);                                       \
                        }                                                                               \
                    }                                                                                   \
                }                                                                                       \
                _Pragma("omp barrier")                                                                  \
                for (int k = top; k >= bottom; k--) {                                                   \
                    if (k % net->threads != t) continue;                                                \
                    int M = (int)net->m[k] + net->bias, N = (int)net->m[k + 1];                         \
                    gemm(ROW_MAJOR, TRANS, NO_TRANS, M, N, net->n, 1, (const T *)net->A[k], M,          \
                         (const T *)net->dz[k + 1], N, 0, (T *)net->dW[k], N); /* (6) */                \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
    }

#ifdef _OPENMP
#define _OMP_THREAD(t) (t) = omp_get_thread_num()
#else
#define _OMP_THREAD(t) (void)(t)
#endif

CHAIN(float, sgemm_t, f32)
CHAIN(double, dgemm_t, f64)

/* An int64 array's data through the buffer protocol (1-D, contiguous, at least `count` entries). */
static int pointers(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return 0;
    const char *f = view->format;
    if (f[0] == '=' || f[0] == '<' || f[0] == '@') f++;
    if (view->itemsize != 8 || (f[0] != 'q' && f[0] != 'l') || view->len / 8 < count) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must be an int64 array of at least %zd entries", what, count);
        return 0;
    }
    return 1;
}

/* run(gemm, double, n, threads, bias, pieces, m, A, Wb, z, dz, dr, dW, backward) -> None, where pieces
 * = (slope, gain, d_pos, d_neg, d_zero, d_nan) describes the hidden activation.
 * backward = 0: (1)-(2) for k = 0 ... L-1 (r[L] is the caller's); 1: (4)-(6) from dz[L]. */
static PyObject *run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 14) {
        PyErr_SetString(PyExc_TypeError, "run takes 14 arguments");
        return NULL;
    }
    void *gemm = PyLong_AsVoidPtr(args[0]);
    int is_double = PyObject_IsTrue(args[1]);
    long n = PyLong_AsLong(args[2]), threads = PyLong_AsLong(args[3]);
    int bias = PyObject_IsTrue(args[4]);
    Pieces f;
    if (!PyArg_ParseTuple(args[5], "dddddd", &f.slope, &f.gain, &f.d_pos, &f.d_neg, &f.d_zero, &f.d_nan)) return NULL;
    int backward = PyObject_IsTrue(args[13]);
    if (PyErr_Occurred()) return NULL;
    if (gemm == NULL || n < 1 || threads < 1) {
        PyErr_SetString(PyExc_ValueError, "run needs a gemm, n >= 1 and threads >= 1");
        return NULL;
    }
    Py_buffer views[7];
    const char *names[7] = {"m", "A", "Wb", "z", "dz", "dr", "dW"};
    if (!pointers(args[6], &views[0], 2, names[0])) return NULL;
    Py_ssize_t L = views[0].len / 8 - 1;
    Py_ssize_t counts[7] = {L + 1, L, L, L + 1, L + 1, L + 1, L};
    int held = 1, ok = 1;
    for (int i = 1; i < 7 && ok; i++) {
        ok = pointers(args[6 + i], &views[i], counts[i], names[i]);
        held += ok;
    }
    if (ok) {
        Net net = {(int)L, (int)n, (int)threads, bias, views[0].buf, views[1].buf, views[2].buf,
                   views[3].buf, views[4].buf, views[5].buf, views[6].buf};
        Py_BEGIN_ALLOW_THREADS
        if (is_double) {
            if (backward) backward_f64(&net, (dgemm_t)gemm, &f); else forward_f64(&net, (dgemm_t)gemm, &f);
        } else {
            if (backward) backward_f32(&net, (sgemm_t)gemm, &f); else forward_f32(&net, (sgemm_t)gemm, &f);
        }
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL,
     "run(gemm, double, n, threads, bias, pieces, m, A, Wb, z, dz, dr, dW, backward): a ReLU-family net's layer loop"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_chain", NULL, -1, methods};

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 ""
#endif

PyMODINIT_FUNC PyInit__chain(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "source_sha256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
