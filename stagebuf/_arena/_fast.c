/* The arena's compiled fast path: what every slice scope does, in C.
 *
 * The pure-Python arena (stagebuf/_arena) is the reference; this module takes
 * over only its marked FAST PATH (three parts) and the fields it reads:
 *
 *   ChunkBase       the fields of a Chunk the fast path reads and bumps:
 *                   array, top, fast_limit, bump_only;
 *   MemoryBase      the field of a Memory it reads: fast_chunk;
 *   AllocationBase  an Allocation's chunk, start, stop, and a slice scope's
 *                   _memory, _state, _dt, _count, _itemsize, _size;
 *   uninit_slice    part 1: the thread-local function, for a count (or a
 *                   1-tuple) and a plain dtype seen before; anything else goes
 *                   to the Python function, which gives the same errors;
 *   slice_enter     part 2: SliceScope.__enter__; the bump into the current
 *                   chunk and the ndarray view, whose base is the chunk's
 *                   array (so no view outlives its memory);
 *   slice_exit      part 3: SliceScope.__exit__; the top allocation of a
 *                   bump-only chunk moves the bump pointer back.
 *
 * The Python classes of stagebuf/_arena derive from the three base types (or
 * from their pure-Python twins in _fields.py), so the Python code reads and
 * writes the same fields under the same names whichever backend runs.
 * Everything off the fast path calls the Python methods (_enter_check,
 * _enter_slow, _end, _entering_interrupted, _end_interrupted).
 *
 * Faults: no Python code runs between the first change of state and the last
 * here, so an asynchronous exception (KeyboardInterrupt) cannot split them;
 * each step that can fail (making the view) comes before the commit. A scope
 * that dies while it holds its slice (dropped by an exception between a
 * caller's `with` and its block) hands the slice to its memory's deferred
 * releases (see release_dropped), as Scope.__del__ does in pure Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#if NPY_ABI_VERSION < 0x02000000 /* numpy 1.x headers; numpy 2 has it */
#define PyDataType_ELSIZE(descr) ((descr)->elsize)
#endif

/* Whether `o` is an instance of `type`: the Python classes derive straight from
 * the C bases, so checking the type's own base first skips the MRO walk. */
#define IS_A(o, type)                                                         \
    (Py_TYPE(o) == (type) || Py_TYPE(o)->tp_base == (type) ||                 \
     PyType_IsSubtype(Py_TYPE(o), (type)))

#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL _Thread_local
#endif

/* Scope states: the same numbers as stagebuf/_arena/_scopes.py. */
/* A size past every chunk (_scopes.NEVER_FITS): such scopes take the Python path. */
#define NEVER_FITS ((Py_ssize_t)1 << 62)

enum { FRESH = 0, LIVE = 1, ENDED = 2 };

/* C-number fields, as properties: structmember's T_PYSSIZET stores -1 before
 * it finds that a value is not an int, which would corrupt a bump pointer;
 * these check first and leave the field as it was. `closure` is the offset. */
static PyObject *
get_ssize(PyObject *self, void *offset)
{
    return PyLong_FromSsize_t(*(Py_ssize_t *)((char *)self + (Py_ssize_t)offset));
}

static int
set_ssize(PyObject *self, PyObject *value, void *offset)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "this field cannot be deleted");
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(value);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    *(Py_ssize_t *)((char *)self + (Py_ssize_t)offset) = n;
    return 0;
}

#define SSIZE_FIELD(name, type, field)                                        \
    {name, get_ssize, set_ssize, NULL, (void *)offsetof(type, field)}

/* -- ChunkBase ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *array;       /* the chunk's 1-D array (uint8 bytes or object slots) */
    Py_ssize_t top;        /* the bump pointer */
    Py_ssize_t fast_limit; /* the fast path's one bound (-1: nothing fits) */
    char bump_only;        /* releasing the top allocation only moves `top` */
} ChunkBase;

static int
chunk_traverse(ChunkBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->array);
    return 0;
}

static int
chunk_clear(ChunkBase *self)
{
    Py_CLEAR(self->array);
    return 0;
}

static void
chunk_dealloc(ChunkBase *self)
{
    PyObject_GC_UnTrack(self);
    chunk_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef chunk_members[] = {
    {"array", T_OBJECT_EX, offsetof(ChunkBase, array), 0, NULL},
    {"bump_only", T_BOOL, offsetof(ChunkBase, bump_only), 0, NULL},
    {NULL},
};

static PyGetSetDef chunk_getset[] = {
    SSIZE_FIELD("top", ChunkBase, top),
    SSIZE_FIELD("fast_limit", ChunkBase, fast_limit),
    {NULL},
};

static PyTypeObject ChunkBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stagebuf._arena._fast.ChunkBase",
    .tp_doc = "The fields of a chunk that the compiled fast path reads and bumps.",
    .tp_basicsize = sizeof(ChunkBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)chunk_dealloc,
    .tp_traverse = (traverseproc)chunk_traverse,
    .tp_clear = (inquiry)chunk_clear,
    .tp_members = chunk_members,
    .tp_getset = chunk_getset,
};

/* -- MemoryBase ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *fast_chunk; /* the chunk scopes may bump inline (NO_CHUNK: none) */
} MemoryBase;


static int
memory_traverse(MemoryBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fast_chunk);
    return 0;
}

static int
memory_clear(MemoryBase *self)
{
    Py_CLEAR(self->fast_chunk);
    return 0;
}

/* The thread's Memory, per OS thread: the thread state whose Memory is cached
 * (its unique id, never re-used; 0: none) and the Memory, borrowed from a
 * holder that keeps it alive for as long as that thread state exists: its
 * CacheOwner (in the thread state's dict), then, once the state is being
 * cleared (the thread ends), the `ending` dict until the state is gone. So
 * whatever frees what in which order while a thread ends, a finalizer run by
 * its teardown gets its own stack, and another thread's garbage collection
 * cannot free it under the cache (a borrowed pointer whose holder was the
 * stack itself could meet freed memory: a segfault). */
static THREAD_LOCAL uint64_t cached_thread_id;
static THREAD_LOCAL PyObject *cached_memory;

static void
memory_dealloc(MemoryBase *self)
{
    PyObject_GC_UnTrack(self);
    memory_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef memory_members[] = {
    {"fast_chunk", T_OBJECT_EX, offsetof(MemoryBase, fast_chunk), 0, NULL},
    {NULL},
};

static PyTypeObject MemoryBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stagebuf._arena._fast.MemoryBase",
    .tp_doc = "The fields of a stack's memory that the compiled fast path reads and sets.",
    .tp_basicsize = sizeof(MemoryBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)memory_dealloc,
    .tp_traverse = (traverseproc)memory_traverse,
    .tp_clear = (inquiry)memory_clear,
    .tp_members = memory_members,
};

/* -- AllocationBase ------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *chunk;      /* a Chunk, or None: nothing held */
    Py_ssize_t start;     /* units of the chunk: where the allocation starts */
    Py_ssize_t stop;      /* ... and where it stops */
    PyObject *memory;     /* scopes: the stack's Memory */
    Py_ssize_t state;     /* scopes: FRESH, LIVE, ENDED, ... */
    PyObject *dt;         /* slice scopes: the np.dtype */
    PyObject *count;      /* slice scopes: the element count (an int of any size) */
    Py_ssize_t ncount;    /* ... as a C number, or -1 where it does not fit one */
    Py_ssize_t itemsize;  /* slice scopes: bytes per element (8 for object slots) */
    Py_ssize_t size;      /* slice scopes: bytes rounded to a cache line, or never-fits */
} AllocationBase;

static int
allocation_traverse(AllocationBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->chunk);
    Py_VISIT(self->memory);
    Py_VISIT(self->dt);
    Py_VISIT(self->count);
    return 0;
}

static PyObject *str_deferred;
static PyTypeObject AllocationBase_Type;
static PyObject *allocation_new(PyTypeObject *type, PyObject *args, PyObject *kwds);

/* A scope that dies LIVE was dropped without its end (an exception between a
 * caller's `with` and its block, or __enter__ called by hand): its slice goes
 * to the memory's deferred releases, in a record of its own (the scope itself
 * is being freed), as Scope.__del__ does in pure Python. Runs wherever the
 * scope dies (any thread, any point): it only appends to a list. */
static void
release_dropped(AllocationBase *self)
{
    if (self->state != LIVE) {
        return;
    }
    self->state = ENDED;
    if (self->chunk == NULL || self->chunk == Py_None || self->memory == NULL) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    AllocationBase *record =
        (AllocationBase *)allocation_new(&AllocationBase_Type, NULL, NULL);
    PyObject *deferred = NULL;
    if (record != NULL) {
        record->chunk = Py_NewRef(self->chunk);
        record->start = self->start;
        record->stop = self->stop;
        deferred = PyObject_GetAttr(self->memory, str_deferred);
    }
    if (deferred == NULL || PyList_Append(deferred, (PyObject *)record) < 0) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear(); /* a memory being collected with its scopes: nothing to keep */
        }
        else {
            PyErr_WriteUnraisable((PyObject *)self);
        }
    }
    Py_XDECREF(deferred);
    Py_XDECREF(record);
    PyErr_Restore(type, value, tb);
}

static int
allocation_clear(AllocationBase *self)
{
    release_dropped(self); /* a garbage cycle may hold a live scope */
    Py_CLEAR(self->chunk);
    Py_CLEAR(self->memory);
    Py_CLEAR(self->dt);
    Py_CLEAR(self->count);
    return 0;
}

static PyObject *
allocation_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    AllocationBase *self = (AllocationBase *)PyType_GenericNew(type, args, kwds);
    if (self != NULL) {
        self->ncount = -1; /* no count yet: not for the fast path */
    }
    return (PyObject *)self;
}

static void
allocation_dealloc(AllocationBase *self)
{
    PyObject_GC_UnTrack(self);
    allocation_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Interned method names, made at import. */
static PyObject *str_enter_check, *str_enter_slow, *str_entering_interrupted;
static PyObject *str_end, *str_end_interrupted, *str_call_with, *str_thread_key;

/* Call `self.<after>()` after `self.<what>()` failed, as Python's
 * `except BaseException: self.<after>(); raise` does: the first exception
 * propagates, or the second one with the first as its __context__. */
static PyObject *
call_then_recover(PyObject *self, PyObject *what, PyObject *after)
{
    PyObject *result = PyObject_CallMethodNoArgs(self, what);
    if (result != NULL) {
        return result;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *done = PyObject_CallMethodNoArgs(self, after);
    if (done != NULL) {
        Py_DECREF(done);
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    /* The handler itself failed: its exception wins, chained to the first. */
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
        Py_DECREF(tb);
    }
    Py_DECREF(type);
    PyObject *type2, *value2, *tb2;
    PyErr_Fetch(&type2, &value2, &tb2);
    PyErr_NormalizeException(&type2, &value2, &tb2);
    PyException_SetContext(value2, value); /* steals value */
    PyErr_Restore(type2, value2, tb2);
    return NULL;
}

/* Whether `size` bytes from `start` lie inside the chunk's bytes and hold the
 * view of `self`. The Python side keeps this true (fast_limit <= capacity,
 * size >= count * itemsize); checking it here, without an overflow, means no
 * value of the private fields can make the C path reach outside its memory. */
static inline int
in_bounds(AllocationBase *self, PyArrayObject *array, Py_ssize_t start, Py_ssize_t size)
{
    Py_ssize_t elsize = (Py_ssize_t)PyDataType_ELSIZE((PyArray_Descr *)self->dt);
    if (PyArray_NDIM(array) != 1) {
        return 0;
    }
    Py_ssize_t nbytes = PyArray_DIM(array, 0) * PyArray_ITEMSIZE(array);
    return start <= nbytes && size <= nbytes - start &&
           (elsize == 0 || self->ncount <= size / elsize);
}

/* The arguments of SliceScope.__enter__(self) and __exit__(self, et, ev, tb),
 * by position or by keyword, refused with the messages Python gives for the
 * pure-Python methods (in its order: keywords, then counts). Fills `given`. */
static const char *const exit_names[3] = {"et", "ev", "tb"};

static int
method_arguments(const char *method, Py_ssize_t n, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames, PyObject **given)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < n; i++) {
        given[i] = i < nargs ? args[i] : NULL;
    }
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t slot = -1;
        for (Py_ssize_t i = 0; i < n && slot < 0; i++) {
            if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, exit_names[i]) == 0) {
                slot = i;
            }
        }
        if (slot < 0) {
            PyErr_Format(PyExc_TypeError, "SliceScope.%s() got an unexpected keyword argument '%S'",
                         method, name);
            return -1;
        }
        if (given[slot] != NULL || slot < nargs) {
            PyErr_Format(PyExc_TypeError, "SliceScope.%s() got multiple values for argument '%s'",
                         method, exit_names[slot]);
            return -1;
        }
        given[slot] = args[nargs + k];
    }
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "SliceScope.%s() takes %zd positional argument%s but %zd were given",
                     method, n + 1, n ? "s" : "", nargs + 1);
        return -1;
    }
    Py_ssize_t missing = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        missing += given[i] == NULL;
    }
    if (missing) {
        /* 'tb'; 'ev' and 'tb'; 'et', 'ev', and 'tb' (Python's own wording) */
        char names[64] = "";
        Py_ssize_t seen = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (given[i] == NULL) {
                seen++;
                const char *sep = seen == 1 ? "" : seen == missing ? (missing > 2 ? ", and " : " and ") : ", ";
                strcat(names, sep);
                strcat(names, "'");
                strcat(names, exit_names[i]);
                strcat(names, "'");
            }
        }
        PyErr_Format(PyExc_TypeError, "SliceScope.%s() missing %zd required positional argument%s: %s",
                     method, missing, missing == 1 ? "" : "s", names);
        return -1;
    }
    return 0;
}

/* FAST PATH, part 2 of 3: SliceScope.__enter__. */
static PyObject *
slice_enter(AllocationBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs || kwnames != NULL) {
        if (method_arguments("__enter__", 0, args, nargs, kwnames, NULL) < 0) {
            return NULL;
        }
    }
    if (self->state != FRESH) {
        PyObject *ok = PyObject_CallMethodNoArgs((PyObject *)self, str_enter_check);
        if (ok == NULL) {
            return NULL; /* the clear ScopeError */
        }
        Py_DECREF(ok);
    }
    PyObject *memory = self->memory;
    if (memory != NULL && IS_A(memory, &MemoryBase_Type)) {
        MemoryBase *mem = (MemoryBase *)memory;
        PyObject *fast = mem->fast_chunk;
        if (fast != NULL && IS_A(fast, &ChunkBase_Type)) {
            ChunkBase *chunk = (ChunkBase *)fast;
            Py_ssize_t start = chunk->top;
            Py_ssize_t size = self->size;
            PyObject *array = chunk->array;
            /* stop = start + size <= fast_limit, written so that nothing overflows */
            if (start >= 0 && size >= 0 && chunk->fast_limit >= start &&
                size <= chunk->fast_limit - start &&
                array != NULL && IS_A(array, &PyArray_Type) && self->dt != NULL &&
                IS_A(self->dt, &PyArrayDescr_Type) && self->ncount >= 0 &&
                in_bounds(self, (PyArrayObject *)array, start, size)) {
                Py_ssize_t stop = start + size;
                npy_intp dims[1] = {self->ncount};
                char *data = (char *)PyArray_DATA((PyArrayObject *)array) + start;
                Py_INCREF(self->dt); /* PyArray_NewFromDescr steals it */
                PyObject *view = PyArray_NewFromDescr(
                    &PyArray_Type, (PyArray_Descr *)self->dt, 1, dims, NULL, data,
                    NPY_ARRAY_CARRAY, NULL);
                if (view == NULL) {
                    return NULL;
                }
                Py_INCREF(array); /* the view keeps the chunk's memory alive */
                if (PyArray_SetBaseObject((PyArrayObject *)view, array) < 0) {
                    Py_DECREF(view);
                    return NULL;
                }
                /* The commit: no Python code runs from here to the return. */
                PyObject *old_chunk = self->chunk;
                Py_INCREF(chunk);
                self->start = start;
                self->stop = stop;
                self->chunk = (PyObject *)chunk;
                chunk->top = stop;
                self->state = LIVE;
                Py_XDECREF(old_chunk);
                return view;
            }
        }
    }
    return call_then_recover((PyObject *)self, str_enter_slow, str_entering_interrupted);
}

/* FAST PATH, part 3 of 3: SliceScope.__exit__. */
static PyObject *
slice_exit(AllocationBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 3 || kwnames != NULL) { /* the with statement passes 3 positionally */
        PyObject *given[3];
        if (method_arguments("__exit__", 3, args, nargs, kwnames, given) < 0) {
            return NULL;
        }
    }
    if (self->state == LIVE) {
        PyObject *held = self->chunk;
        if (held != NULL && IS_A(held, &ChunkBase_Type)) {
            ChunkBase *chunk = (ChunkBase *)held;
            if (chunk->bump_only && chunk->top == self->stop) {
                chunk->top = self->start;
                self->state = ENDED;
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *done = call_then_recover((PyObject *)self, str_end, str_end_interrupted);
    if (done == NULL) {
        return NULL;
    }
    Py_DECREF(done);
    Py_RETURN_NONE;
}

static PyMemberDef allocation_members[] = {
    {"chunk", T_OBJECT_EX, offsetof(AllocationBase, chunk), 0, NULL},
    {"_memory", T_OBJECT_EX, offsetof(AllocationBase, memory), 0, NULL},
    {"_dt", T_OBJECT_EX, offsetof(AllocationBase, dt), 0, NULL},
    {NULL},
};

/* `_count`: the Python int, with its C value kept beside it for the fast path. */
static PyObject *
allocation_get_count(AllocationBase *self, void *Py_UNUSED(closure))
{
    if (self->count == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_count");
        return NULL;
    }
    return Py_NewRef(self->count);
}

static int
allocation_set_count(AllocationBase *self, PyObject *value, void *Py_UNUSED(closure))
{
    Py_ssize_t n = -1;
    if (value != NULL) {
        if (!PyLong_Check(value)) {
            PyErr_Format(PyExc_TypeError, "_count must be an int, not %.100s",
                         Py_TYPE(value)->tp_name);
            return -1;
        }
        n = PyLong_AsSsize_t(value);
        if (n == -1 && PyErr_Occurred()) {
            PyErr_Clear(); /* too big for C: never on the fast path */
            n = -1;
        }
        Py_INCREF(value);
    }
    Py_XSETREF(self->count, value);
    self->ncount = n;
    return 0;
}

static PyGetSetDef allocation_getset[] = {
    SSIZE_FIELD("start", AllocationBase, start),
    SSIZE_FIELD("stop", AllocationBase, stop),
    SSIZE_FIELD("_state", AllocationBase, state),
    SSIZE_FIELD("_itemsize", AllocationBase, itemsize),
    SSIZE_FIELD("_size", AllocationBase, size),
    {"_count", (getter)allocation_get_count, (setter)allocation_set_count, NULL, NULL},
    {NULL},
};

static PyMethodDef allocation_methods[] = {
    {"slice_enter", (PyCFunction)(void (*)(void))slice_enter, METH_FASTCALL | METH_KEYWORDS,
     "slice_enter($self, /)\n--\n\n"
     "FAST PATH, part 2: SliceScope.__enter__ (installed there by _scopes)."},
    {"slice_exit", (PyCFunction)(void (*)(void))slice_exit, METH_FASTCALL | METH_KEYWORDS,
     "slice_exit($self, /, et, ev, tb)\n--\n\n"
     "FAST PATH, part 3: SliceScope.__exit__ (installed there by _scopes)."},
    {NULL},
};

static PyTypeObject AllocationBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stagebuf._arena._fast.AllocationBase",
    .tp_doc = "An allocation's fields, and a slice scope's, for the compiled fast path.",
    .tp_basicsize = sizeof(AllocationBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = allocation_new,
    .tp_dealloc = (destructor)allocation_dealloc,
    .tp_traverse = (traverseproc)allocation_traverse,
    .tp_clear = (inquiry)allocation_clear,
    .tp_members = allocation_members,
    .tp_getset = allocation_getset,
    .tp_methods = allocation_methods,
};

/* -- uninit_slice: FAST PATH, part 1 of 3 ----------------------------------- */

/* Scopes of the configured type that died, kept for the next uninit_slice as
 * CPython keeps its tuples: untracked, fields cleared, linked through `chunk`.
 * Saves the allocator's round trip on every scope. */
#define MAX_FREE_SCOPES 64
static AllocationBase *free_scopes;
static int n_free_scopes;

/* Set once by configure(): the Python side's objects this function works with. */
static PyObject *plain_dtypes;     /* dict: dtype spec -> (np.dtype, itemsize) */
static PyTypeObject *scope_type;   /* SliceScope */
static PyObject *thread_memory;    /* callable: the calling thread's Memory (makes it) */
static PyObject *python_uninit;    /* the Python uninit_slice: everything else */


static int cache_per_thread;       /* whether the thread's Memory may be cached */

/* Memories of thread states being cleared, by thread-state id: held until the
 * state is gone from the interpreter (see sweep_ending). */
static PyObject *ending;

/* -- CacheOwner: holds the cached Memory of one thread state, from the thread
 * state's dict. Not tracked by the garbage collector, it dies exactly when
 * that dict lets go of it (the state is cleared), and hands the Memory on to
 * `ending`, where it stays for the rest of the state's teardown. */
typedef struct {
    PyObject_HEAD
    uint64_t thread_id; /* the thread state whose Memory this holds */
    PyObject *memory;   /* its Memory (a strong reference), or NULL */
} CacheOwner;

static void
forget_cached_memory(void)
{
    cached_memory = NULL; /* borrowed: nothing to release */
    cached_thread_id = 0;
}

static int sweep_ending(void);

static void
cache_owner_dealloc(CacheOwner *self)
{
    PyObject *memory = self->memory;
    self->memory = NULL;
    if (memory != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *key = PyLong_FromUnsignedLongLong(self->thread_id);
        if (key == NULL || ending == NULL || PyDict_SetItem(ending, key, memory) < 0) {
            PyErr_Clear(); /* cannot keep it: no cache may borrow it any more */
            if (cached_thread_id == self->thread_id) {
                forget_cached_memory();
            }
        }
        Py_XDECREF(key);
        Py_DECREF(memory); /* `ending` holds it now, or it may go */
        if (sweep_ending() < 0) { /* the ones gone before: only ending ones stay */
            PyErr_Clear();
        }
        PyErr_Restore(type, value, tb);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject CacheOwner_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stagebuf._arena._fast.CacheOwner",
    .tp_doc = "Holds a thread state's cached stack; hands it on when the state is cleared.",
    .tp_basicsize = sizeof(CacheOwner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)cache_owner_dealloc,
};

/* Let go of the Memories in `ending` whose thread state no longer exists (its
 * thread runs no more Python code, so no cache can use them). Runs on each
 * cache miss (a new thread) and as each thread state is cleared. */
static int
sweep_ending(void)
{
    if (ending == NULL || PyDict_GET_SIZE(ending) == 0) {
        return 0;
    }
    PyObject *gone = PyList_New(0);
    if (gone == NULL) {
        return -1;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(ending, &pos, &key, &value)) {
        unsigned long long id = PyLong_AsUnsignedLongLong(key);
        int live = 0;
        for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t != NULL && !live;
             t = PyThreadState_Next(t)) {
            live = PyThreadState_GetID(t) == id;
        }
        if (!live && PyList_Append(gone, key) < 0) {
            Py_DECREF(gone);
            return -1;
        }
    }
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gone) && !failed; i++) {
        failed = PyDict_DelItem(ending, PyList_GET_ITEM(gone, i)) < 0; /* may run Python code */
    }
    Py_DECREF(gone);
    return failed ? -1 : 0;
}

/* The calling thread's Memory (a new reference): thread_memory()'s answer,
 * cached per thread state when `thread_memory` answers per OS thread (the
 * stacks are kept in a real threading.local). Under gevent, whose patched
 * threading.local answers per greenlet, nothing is cached: each greenlet gets
 * the stack the Python path gives it. */
static PyObject *
memory_of_thread(void)
{
    uint64_t id = PyThreadState_GetID(PyThreadState_Get());
    if (id == cached_thread_id) { /* never 0: ids start at 1 */
        return Py_NewRef(cached_memory);
    }
    if (sweep_ending() < 0) {
        return NULL;
    }
    PyObject *memory = PyObject_CallNoArgs(thread_memory);
    if (memory == NULL || !cache_per_thread) {
        return memory;
    }
    PyObject *tdict = PyThreadState_GetDict();
    if (tdict == NULL) {
        return memory; /* no dict to hold the owner: not cached */
    }
    PyObject *owner = PyDict_GetItemWithError(tdict, str_thread_key);
    if (owner != NULL && Py_TYPE(owner) != &CacheOwner_Type) {
        return memory; /* the key taken by something else: not cached */
    }
    if (owner == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(memory);
            return NULL;
        }
        CacheOwner *made = PyObject_New(CacheOwner, &CacheOwner_Type);
        if (made == NULL) {
            Py_DECREF(memory);
            return NULL;
        }
        made->thread_id = id;
        made->memory = NULL;
        int failed = PyDict_SetItem(tdict, str_thread_key, (PyObject *)made);
        owner = (PyObject *)made;
        Py_DECREF(made); /* the dict holds it */
        if (failed) {
            Py_DECREF(memory);
            return NULL;
        }
    }
    PyObject *old = ((CacheOwner *)owner)->memory;
    ((CacheOwner *)owner)->memory = Py_NewRef(memory);
    cached_memory = memory; /* borrowed from the owner */
    cached_thread_id = id;
    Py_XDECREF(old); /* after the cache is whole again: this may run Python code */
    return memory;
}

/* The element count of a shape on the fast path: a non-negative int, or a
 * 1-tuple of one; -1 for anything else (the Python function decides). */
static Py_ssize_t
fast_count(PyObject *shape, PyObject **count_obj)
{
    if (PyTuple_CheckExact(shape) && PyTuple_GET_SIZE(shape) == 1) {
        shape = PyTuple_GET_ITEM(shape, 0);
    }
    if (!PyLong_CheckExact(shape)) {
        return -1;
    }
    Py_ssize_t count = PyLong_AsSsize_t(shape);
    if (count == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* too big: the Python function says so */
        return -1;
    }
    *count_obj = shape;
    return count;
}

static PyObject *
uninit_slice(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    PyObject *fn = NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (plain_dtypes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "stagebuf._arena._fast is not configured");
        return NULL;
    }
    if (nargs == 2 && nkw <= 1) {
        if (nkw == 1) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
            if (PyUnicode_CompareWithASCIIString(name, "fn") != 0) {
                goto python;
            }
            fn = args[2];
        }
        PyObject *count_obj = NULL;
        Py_ssize_t count = fast_count(args[0], &count_obj);
        if (count < 0) {
            goto python;
        }
        PyObject *spec = PyDict_GetItemWithError(plain_dtypes, args[1]);
        if (spec == NULL) {
            if (PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
                    return NULL;
                }
                PyErr_Clear(); /* an unhashable spec: the Python function checks it */
            }
            goto python;
        }
        if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 2 ||
            !PyLong_CheckExact(PyTuple_GET_ITEM(spec, 1))) {
            goto python;
        }
        Py_ssize_t itemsize = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 1));
        if (itemsize <= 0 || count > (NEVER_FITS - 63) / itemsize) {
            PyErr_Clear(); /* sizes past NEVER_FITS: the Python function (it fails them) */
            goto python;
        }
        /* Our own references before any Python code can run (making the thread's
         * stack, or a collection started by the allocation below), which could
         * replace the dict's entry and free a borrowed spec. */
        PyObject *dt = Py_NewRef(PyTuple_GET_ITEM(spec, 0));
        PyObject *memory = memory_of_thread(); /* a new reference */
        if (memory == NULL) {
            Py_DECREF(dt);
            return NULL;
        }
        /* Not tp_alloc: it would zero the object first; every field is set here. */
        AllocationBase *scope = free_scopes;
        if (scope != NULL) {
            free_scopes = (AllocationBase *)scope->chunk;
            n_free_scopes--;
            PyObject_Init((PyObject *)scope, scope_type);
        }
        else {
            scope = PyObject_GC_New(AllocationBase, scope_type);
            if (scope == NULL) {
                Py_DECREF(dt);
                Py_DECREF(memory);
                return NULL;
            }
        }
        scope->chunk = NULL;
        scope->start = 0;
        scope->stop = 0;
        scope->memory = memory;
        scope->state = FRESH;
        scope->dt = dt;
        scope->count = Py_NewRef(count_obj);
        scope->ncount = count;
        scope->itemsize = itemsize;
        scope->size = (count * itemsize + 63) & ~(Py_ssize_t)63;
        PyObject_GC_Track(scope);
        if (fn == NULL || fn == Py_None) {
            return (PyObject *)scope;
        }
        PyObject *result = PyObject_CallMethodOneArg((PyObject *)scope, str_call_with, fn);
        Py_DECREF(scope);
        return result;
    }
python:
    return PyObject_Vectorcall(python_uninit, args, nargs, kwnames);
}

/* The configured scope type's tp_dealloc: subtype_dealloc's work for a type
 * that adds nothing to AllocationBase (configure checks that), then the free
 * list instead of the allocator. */
static void
scope_dealloc(AllocationBase *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    allocation_clear(self); /* a live scope hands its slice on (release_dropped) */
    if (type == scope_type && n_free_scopes < MAX_FREE_SCOPES) {
        self->chunk = (PyObject *)free_scopes;
        free_scopes = self;
        n_free_scopes++;
    }
    else {
        type->tp_free((PyObject *)self);
    }
    Py_DECREF(type); /* instances of a heap type hold a reference to it */
}

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *dtypes, *type, *memory_fn, *python_fn;
    int per_thread;
    if (!PyArg_ParseTuple(args, "O!O!OOp:configure", &PyDict_Type, &dtypes, &PyType_Type, &type,
                          &memory_fn, &python_fn, &per_thread)) {
        return NULL;
    }
    /* uninit_slice makes its scopes field by field: the type must add none
     * (no slots, no __dict__, no __weakref__) to AllocationBase's, and its
     * dealloc (scope_dealloc) runs no finalizer. */
    PyTypeObject *t = (PyTypeObject *)type;
    if (!PyType_IsSubtype(t, &AllocationBase_Type) || t->tp_basicsize != sizeof(AllocationBase) ||
        t->tp_itemsize != 0 || t->tp_dictoffset != 0 || t->tp_weaklistoffset != 0 ||
        t->tp_finalize != NULL || t->tp_del != NULL || !(t->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "configure: the scope type must be a class deriving "
                                         "AllocationBase that adds no fields and no __del__");
        return NULL;
    }
    if (scope_type != NULL && scope_type != t) {
        PyErr_SetString(PyExc_RuntimeError, "configure: the scope type is set once");
        return NULL;
    }
    Py_INCREF(dtypes);
    Py_XSETREF(plain_dtypes, dtypes);
    Py_INCREF(type);
    Py_XSETREF(scope_type, t);
    t->tp_dealloc = (destructor)scope_dealloc;
    Py_INCREF(memory_fn);
    Py_XSETREF(thread_memory, memory_fn);
    Py_INCREF(python_fn);
    Py_XSETREF(python_uninit, python_fn);
    cache_per_thread = per_thread;
    if (!per_thread) {
        forget_cached_memory();
    }
    if (ending == NULL && (ending = PyDict_New()) == NULL) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"uninit_slice", (PyCFunction)(void (*)(void))uninit_slice, METH_FASTCALL | METH_KEYWORDS,
     "uninit_slice($module, /, shape, dtype, *, fn=None)\n--\n\n"
     "The thread-local uninit_slice (FAST PATH, part 1)."},
    {"configure", configure, METH_VARARGS,
     "configure(plain_dtypes, scope_type, thread_memory, python_uninit_slice, per_thread): "
     "per_thread says whether thread_memory answers per OS thread (then it is cached)."},
    {NULL},
};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stagebuf._arena._fast",
    .m_doc = "The arena's compiled fast path (see stagebuf/_arena/_fast.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int
intern(PyObject **slot, const char *text)
{
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__fast(void)
{
    import_array();
    if (intern(&str_enter_check, "_enter_check") < 0 ||
        intern(&str_enter_slow, "_enter_slow") < 0 ||
        intern(&str_entering_interrupted, "_entering_interrupted") < 0 ||
        intern(&str_end, "_end") < 0 || intern(&str_end_interrupted, "_end_interrupted") < 0 ||
        intern(&str_call_with, "call_with") < 0 ||
        intern(&str_thread_key, "stagebuf._arena.memory") < 0 ||
        intern(&str_deferred, "deferred") < 0) {
        return NULL;
    }
    if (PyType_Ready(&ChunkBase_Type) < 0 || PyType_Ready(&MemoryBase_Type) < 0 ||
        PyType_Ready(&AllocationBase_Type) < 0 || PyType_Ready(&CacheOwner_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&fast_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "ChunkBase", (PyObject *)&ChunkBase_Type) < 0 ||
        PyModule_AddObjectRef(module, "MemoryBase", (PyObject *)&MemoryBase_Type) < 0 ||
        PyModule_AddObjectRef(module, "AllocationBase", (PyObject *)&AllocationBase_Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
