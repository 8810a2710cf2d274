/* The recording's compiled fast path: the common case of Frame.reserve, in C.
 *
 * The pure-Python recording (stagebuf/_recording) is the reference; this
 * module takes over one method, Frame.reserve, for the case a render loop
 * repeats: an open frame, an int count, the default state or a state already
 * checked (found in the stager's cache of states by the key Frame._state
 * builds), room left in the frame's current arena slice, the layout's typed
 * view cached, no uniform watch, no max_vertices overflow, an int layer.
 * Anything else, and every error, goes to the Python method
 * (Frame._reserve_slow), which gives the same results and the same messages.
 *
 * The Python classes stay plain classes with __slots__ (Frame, Stream, State,
 * Draw): configure() finds each slot's offset from its member descriptor and
 * checks its kind, so this file reads and writes the very slots the Python code
 * does, and no second definition of the fields exists to drift. Every value it
 * reads is checked (exact type, range) before use; a value it does not expect
 * sends the call to the Python method, so no value of a slot can make this
 * path reach outside the memory of a view.
 *
 * Faults: everything that can fail (the key lookup, which may run a __hash__
 * or __eq__ in Python; the view; the new ints, tuple and Draw; the list
 * appends; the dict store of a layer change) comes before the commit, and a
 * failure undoes what came before it; the commit is plain stores (no Python
 * code runs between the first and the last), so an exception or a
 * KeyboardInterrupt leaves the frame as it was or fully updated.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

/* A slot of an instance of one of the configured classes (NULL: unset). */
#define SLOT(o, offset) (*(PyObject **)((char *)(o) + (offset)))

/* The same numbers as stagebuf/_recording: Frame's open phase, the plain draw
 * kind, and what a vertex range's layout feeds (_VERTICES). Set by configure. */
static long OPEN_PHASE = -1;

/* Slot offsets, found by configure(). */
static Py_ssize_t F_phase, F_default, F_default_checked, F_watch, F_vertex_total,
    F_max_vertices, F_vertices, F_ranges, F_draws, F_last, F_last_layer, F_lasts, F_layered,
    F_states;
static Py_ssize_t S_layout, S_merge, S_mode, S_program, S_uniforms, S_textures;
static Py_ssize_t D_kind, D_state, D_first, D_count, D_base, D_range_start, D_layer, D_ranges,
    D_command;
static Py_ssize_t T_start, T_used, T_cap, T_typed;
static Py_ssize_t L_stride;

static PyTypeObject *frame_type, *draw_type, *state_type, *stream_type, *layout_type;

/* Interned names and the constant ints a new Draw holds. */
static PyObject *str_reserve_slow;
static PyObject *kw_names[6]; /* mode, program, layout, uniforms, textures, layer */
static PyObject *plain_kind, *vertices_reads, *int_zero, *int_one, *int_minus_one;

/* `o` as a C number when it is an exact int that fits one; 0 on success. */
static inline int
exact_ssize(PyObject *o, Py_ssize_t *out)
{
    if (o == NULL || !PyLong_CheckExact(o)) {
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(o);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* too big for C: not for this path */
        return -1;
    }
    *out = n;
    return 0;
}

/* Store `value` (a new reference) in a slot; the old value is returned for the
 * caller to release once every store is done. */
static inline PyObject *
swap_slot(PyObject *o, Py_ssize_t offset, PyObject *value)
{
    PyObject *old = SLOT(o, offset);
    SLOT(o, offset) = value;
    return old;
}

/* Drop the last item of a list (undoing our own append): no reallocation. */
static void
list_pop_last(PyObject *list)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *item = PyList_GET_ITEM(list, n - 1);
    Py_SET_SIZE(list, n - 1);
    Py_DECREF(item);
}

/* self._reserve_slow(*args, **kwargs): the Python method, for everything else. */
static PyObject *
reserve_in_python(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    Py_ssize_t total = nargs + nkw;
    PyObject *small[16];
    PyObject **stack = small;
    if (total + 1 > 16) {
        stack = PyMem_Malloc((size_t)(total + 1) * sizeof(PyObject *));
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < total; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *result = PyObject_VectorcallMethod(str_reserve_slow, stack, nargs + 1, kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return result;
}

/* The cached state of a range with options: stager._states[key], the key as
 * Frame._state builds it. A new reference; NULL and no error: not cached (or
 * not a mapping Python would read the same way); NULL with an error: raise. */
static PyObject *
cached_state(PyObject *self, PyObject *mode, PyObject *program, PyObject *layout,
             PyObject *uniforms, PyObject *textures)
{
    PyObject *states = SLOT(self, F_states);
    if (states == NULL || !PyDict_CheckExact(states)) {
        return NULL;
    }
    Py_INCREF(states);
    int given_u = uniforms != Py_None && PyDict_GET_SIZE(uniforms) > 0;
    int given_t = textures != Py_None && PyDict_GET_SIZE(textures) > 0;
    Py_ssize_t size = given_u || given_t ? 6 : 4;
    PyObject *key = PyTuple_New(size);
    if (key == NULL) {
        Py_DECREF(states);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, Py_NewRef(mode));
    PyTuple_SET_ITEM(key, 1, Py_NewRef(program));
    PyTuple_SET_ITEM(key, 2, Py_NewRef(layout));
    PyTuple_SET_ITEM(key, 3, Py_NewRef(vertices_reads));
    PyObject *maps[2] = {given_u ? uniforms : NULL, given_t ? textures : NULL};
    for (int m = 0; m < 2 && size == 6; m++) {
        PyObject *items = Py_None;
        if (maps[m] == NULL) {
            Py_INCREF(items);
        }
        else {
            /* tuple(d.items()): (key, value) pairs in the dict's order */
            items = PyTuple_New(PyDict_GET_SIZE(maps[m]));
            Py_ssize_t pos = 0, i = 0;
            PyObject *k, *v;
            while (items != NULL && PyDict_Next(maps[m], &pos, &k, &v)) {
                PyObject *pair = PyTuple_Pack(2, k, v);
                if (pair == NULL) {
                    Py_CLEAR(items);
                    break;
                }
                PyTuple_SET_ITEM(items, i++, pair);
            }
            if (items == NULL) {
                Py_DECREF(key);
                Py_DECREF(states);
                return NULL;
            }
        }
        PyTuple_SET_ITEM(key, 4 + m, items);
    }
    PyObject *state = PyDict_GetItemWithError(states, key); /* may run __hash__/__eq__ */
    Py_XINCREF(state);
    Py_DECREF(key);
    Py_DECREF(states);
    if (state == NULL && PyErr_Occurred()) {
        /* state_for checks unhashable options itself (TypeError; ValueError: a
         * writable memoryview); others raise. */
        if (PyErr_ExceptionMatches(PyExc_TypeError) ||
            PyErr_ExceptionMatches(PyExc_ValueError) ||
            PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
        }
    }
    return state;
}

/* The typed view of `layout` in the stream: the entry of stream.typed whose
 * key IS `layout` (a borrowed reference, or NULL). Dict keys are unique by
 * equality, so an identical key is the entry a lookup would find; comparing
 * identities spares VertexLayout.__hash__ (Python code) on every reserve. An
 * equal layout that is another object goes to the Python path. */
static PyObject *
typed_entry(PyObject *typed, PyObject *layout)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(typed, &pos, &k, &v)) {
        if (k == layout) {
            return v;
        }
    }
    return NULL;
}

/* A view of `n` items of the 1-D array `typed` from item `k`, as typed[k:k+n]
 * (its base is the array the typed view's chain ends at). The caller checked
 * 0 <= k <= k + n <= len(typed). */
static PyObject *
items_view(PyArrayObject *typed, Py_ssize_t k, Py_ssize_t n)
{
    if (n == 0) {
        k = 0; /* numpy's empty slice starts at the array's own start */
    }
    npy_intp dims[1] = {n};
    npy_intp strides[1] = {PyArray_STRIDE(typed, 0)};
    PyArray_Descr *descr = PyArray_DESCR(typed);
    Py_INCREF(descr); /* PyArray_NewFromDescr steals it */
    PyObject *view = PyArray_NewFromDescr(
        &PyArray_Type, descr, 1, dims, strides, PyArray_BYTES(typed) + k * strides[0],
        PyArray_FLAGS(typed) & NPY_ARRAY_WRITEABLE, NULL);
    if (view == NULL) {
        return NULL;
    }
    Py_INCREF(typed); /* the view keeps its memory alive, as a slice's does */
    if (PyArray_SetBaseObject((PyArrayObject *)view, (PyObject *)typed) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

/* Whether comparing `o` runs no Python code: numbers, strings, None, and tuples
 * of them (uniform values as users give them). */
static int
plain_value(PyObject *o, int depth)
{
    if (o == Py_None || PyLong_CheckExact(o) || PyFloat_CheckExact(o) || PyUnicode_CheckExact(o) ||
        PyBytes_CheckExact(o) || PyBool_Check(o)) {
        return 1;
    }
    if (PyTuple_CheckExact(o) && depth < 3) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(o); i++) {
            if (!plain_value(PyTuple_GET_ITEM(o, i), depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* _drawlist.equal(a, b) for a state's uniforms or textures (None or a dict):
 * 1 equal, 0 not, -1 when only Python can tell (values whose == is Python code). */
static int
maps_equal(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (a == NULL || b == NULL || !(a == Py_None || PyDict_CheckExact(a)) ||
        !(b == Py_None || PyDict_CheckExact(b))) {
        return -1;
    }
    if (a == Py_None || b == Py_None || PyDict_GET_SIZE(a) != PyDict_GET_SIZE(b)) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(a, &pos, &key, &value)) {
        if (!plain_value(key, 0) || !plain_value(value, 0)) {
            return -1;
        }
        PyObject *other = PyDict_GetItemWithError(b, key);
        if (other == NULL) {
            if (PyErr_Occurred()) {
                PyErr_Clear();
                return -1;
            }
            return 0;
        }
        if (other != value) {
            if (!plain_value(other, 0)) {
                return -1;
            }
            int same = PyObject_RichCompareBool(value, other, Py_EQ);
            if (same < 0) {
                PyErr_Clear();
                return -1;
            }
            if (!same) {
                return 0;
            }
        }
    }
    return 1;
}

/* State.same(a, b): 1 equal, 0 not, -1 when only Python can tell. */
static int
states_same(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (!Py_IS_TYPE(a, state_type) || !Py_IS_TYPE(b, state_type)) {
        return -1;
    }
    PyObject *mode_a = SLOT(a, S_mode), *mode_b = SLOT(b, S_mode);
    if (mode_a == NULL || mode_b == NULL || !PyLong_CheckExact(mode_a) ||
        !PyLong_CheckExact(mode_b) || SLOT(a, S_program) == NULL || SLOT(b, S_program) == NULL) {
        return -1;
    }
    int same = PyObject_RichCompareBool(mode_a, mode_b, Py_EQ); /* ints: no Python code */
    if (same <= 0) {
        PyErr_Clear();
        return same < 0 ? -1 : 0;
    }
    if (SLOT(a, S_program) != SLOT(b, S_program)) {
        return 0;
    }
    if (SLOT(a, S_layout) != SLOT(b, S_layout)) {
        return -1; /* VertexLayout.__eq__ */
    }
    same = maps_equal(SLOT(a, S_uniforms), SLOT(b, S_uniforms));
    if (same != 1) {
        return same;
    }
    return maps_equal(SLOT(a, S_textures), SLOT(b, S_textures));
}

static int
match_keyword(PyObject *name)
{
    for (int i = 0; i < 6; i++) {
        if (name == kw_names[i]) {
            return i;
        }
    }
    for (int i = 0; i < 6; i++) { /* a name built at run time: not interned */
        if (PyUnicode_Check(name) && PyUnicode_Compare(name, kw_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Frame.reserve(count, *, mode, program, layout, uniforms, textures, layer). */
static PyObject *
frame_reserve(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *given[6] = {Py_None, Py_None, Py_None, Py_None, Py_None, NULL};
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (frame_type == NULL || nargs != 1 || !PyObject_TypeCheck(self, frame_type)) {
        return reserve_in_python(self, args, nargs, kwnames);
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        int slot = match_keyword(PyTuple_GET_ITEM(kwnames, i));
        if (slot < 0) {
            /* `count=` or an unknown name: Python says what is wrong */
            return reserve_in_python(self, args, nargs, kwnames);
        }
        given[slot] = args[nargs + i];
    }
    PyObject *mode = given[0], *program = given[1], *layout_opt = given[2];
    PyObject *uniforms = given[3], *textures = given[4];
    PyObject *layer = given[5] == NULL ? int_zero : given[5];

    Py_ssize_t phase, n, vertex_total;
    if (exact_ssize(SLOT(self, F_phase), &phase) < 0 || phase != OPEN_PHASE ||
        exact_ssize(args[0], &n) < 0 || n < 0 || !PyLong_CheckExact(layer) ||
        SLOT(self, F_watch) != Py_None ||
        exact_ssize(SLOT(self, F_vertex_total), &vertex_total) < 0 || vertex_total < 0 ||
        n > PY_SSIZE_T_MAX - vertex_total) {
        return reserve_in_python(self, args, nargs, kwnames);
    }
    if ((uniforms != Py_None && !PyDict_CheckExact(uniforms)) ||
        (textures != Py_None && !PyDict_CheckExact(textures))) {
        /* other mappings (or wrong types): Python reads or refuses them */
        return reserve_in_python(self, args, nargs, kwnames);
    }
    Py_ssize_t total = vertex_total + n;
    PyObject *max_vertices = SLOT(self, F_max_vertices);
    if (max_vertices != Py_None) {
        Py_ssize_t cap;
        if (exact_ssize(max_vertices, &cap) < 0 || total > cap) {
            /* past the cap: Python raises StagingLimitError */
            return reserve_in_python(self, args, nargs, kwnames);
        }
    }

    /* The state: the default, or a checked one from the stager's cache. */
    PyObject *state;
    if (mode == Py_None && program == Py_None && layout_opt == Py_None &&
        (uniforms == Py_None || PyDict_GET_SIZE(uniforms) == 0) &&
        (textures == Py_None || PyDict_GET_SIZE(textures) == 0)) {
        state = SLOT(self, F_default);
        if (state == NULL || SLOT(self, F_default_checked) != Py_True) {
            /* not checked yet: Python checks it (once per stager) */
            return reserve_in_python(self, args, nargs, kwnames);
        }
        Py_INCREF(state);
    }
    else {
        state = cached_state(self, mode, program, layout_opt, uniforms, textures);
        if (state == NULL) {
            if (PyErr_Occurred()) {
                return NULL; /* nothing has changed */
            }
            return reserve_in_python(self, args, nargs, kwnames);
        }
    }

    /* From here on: our own references, released at `done`. */
    PyObject *result = NULL, *stream = NULL, *entry = NULL, *last = NULL;
    PyObject *ranges = NULL, *draws = NULL, *lasts = NULL, *last_layer = NULL;
    PyObject *view = NULL, *first_obj = NULL, *pair = NULL, *used_obj = NULL;
    PyObject *total_obj = NULL, *count_obj = NULL, *nranges_obj = NULL, *draw = NULL;
    PyObject *range_start = NULL, *merge_obj, *typed_ref = NULL, *last_seen = NULL;
    int python = 1;

    if (!Py_IS_TYPE(state, state_type)) {
        goto done;
    }
    {
    PyObject *layout = SLOT(state, S_layout);
    merge_obj = SLOT(state, S_merge);
    stream = Py_XNewRef(SLOT(self, F_vertices));
    ranges = Py_XNewRef(SLOT(self, F_ranges));
    draws = Py_XNewRef(SLOT(self, F_draws));
    lasts = Py_XNewRef(SLOT(self, F_lasts));
    last_layer = Py_XNewRef(SLOT(self, F_last_layer));
    if (layout == NULL || merge_obj == NULL || stream == NULL || !Py_IS_TYPE(stream, stream_type) ||
        ranges == NULL || !PyList_CheckExact(ranges) || draws == NULL ||
        !PyList_CheckExact(draws) || lasts == NULL || !PyDict_CheckExact(lasts) ||
        last_layer == NULL || !PyLong_CheckExact(last_layer) || SLOT(self, F_last) == NULL) {
        goto done;
    }

    /* Stream.take(n, layout, layout.stride, layout.dtype), when it needs no new
     * slice and the layout's typed view is cached. */
    Py_ssize_t start, used, cap, origin, stride;
    PyObject *typed = SLOT(stream, T_typed);
    if (exact_ssize(SLOT(stream, T_start), &start) < 0 || start < 0 ||
        exact_ssize(SLOT(stream, T_used), &used) < 0 || used < 0 ||
        exact_ssize(SLOT(stream, T_cap), &cap) < 0 || used > PY_SSIZE_T_MAX - start ||
        typed == NULL || !PyDict_CheckExact(typed)) {
        goto done;
    }
    /* Held for the check before the commit (no other dict can take its address). */
    typed_ref = Py_NewRef(typed);
    last_seen = Py_NewRef(SLOT(self, F_last));
    Py_ssize_t nranges = PyList_GET_SIZE(ranges), ndraws = PyList_GET_SIZE(draws);
    entry = Py_XNewRef(typed_entry(typed, layout));
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 ||
        !PyArray_CheckExact(PyTuple_GET_ITEM(entry, 0)) ||
        exact_ssize(PyTuple_GET_ITEM(entry, 1), &origin) < 0 || origin < 0) {
        goto done;
    }
    PyArrayObject *items = (PyArrayObject *)PyTuple_GET_ITEM(entry, 0);
    /* Python steps through the stream by layout.stride and slices the typed view by
     * items: one and the same when the view's items are contiguous, of that size. */
    if (!Py_IS_TYPE(layout, layout_type) || exact_ssize(SLOT(layout, L_stride), &stride) < 0 ||
        stride <= 0 || PyArray_NDIM(items) != 1 || PyArray_STRIDE(items, 0) != stride ||
        (Py_ssize_t)PyArray_ITEMSIZE(items) != stride) {
        goto done;
    }
    Py_ssize_t pos = start + used;
    Py_ssize_t misaligned = pos % stride; /* items start on a multiple of their size */
    if (misaligned && pos > PY_SSIZE_T_MAX - (stride - misaligned)) {
        goto done;
    }
    pos += misaligned ? stride - misaligned : 0;
    if (n > (PY_SSIZE_T_MAX - (pos - start)) / stride) {
        goto done;
    }
    Py_ssize_t end = pos - start + n * stride;
    if ((end > cap && n) || pos < origin) {
        goto done; /* a new slice: Python opens it */
    }
    Py_ssize_t k = (pos - origin) / stride;
    Py_ssize_t len = PyArray_DIM(items, 0);
    if (k > len || n > len - k) {
        goto done;
    }
    Py_ssize_t first = origin / stride + k;

    /* Merge into the layer's last draw, or push a new one. */
    int same_layer = layer == last_layer || PyObject_RichCompareBool(layer, last_layer, Py_EQ) == 1;
    if (same_layer) {
        last = Py_NewRef(SLOT(self, F_last));
    }
    else {
        last = PyDict_GetItemWithError(lasts, layer); /* an int key: no Python code */
        if (last == NULL && PyErr_Occurred()) {
            goto done;
        }
        last = Py_NewRef(last == NULL ? Py_None : last);
    }
    int merge = 0;
    Py_ssize_t last_count = 0, last_ranges = 0;
    if (last != Py_None) {
        Py_ssize_t kind, last_first, size;
        if (!Py_IS_TYPE(last, draw_type) || exact_ssize(SLOT(last, D_kind), &kind) < 0 ||
            exact_ssize(SLOT(last, D_first), &last_first) < 0 ||
            exact_ssize(SLOT(last, D_count), &last_count) < 0 || last_first < 0 ||
            last_count < 0 || last_first > PY_SSIZE_T_MAX - last_count) {
            goto done;
        }
        if (kind == 0 /* PLAIN */ && last_first + last_count == first) {
            PyObject *last_state = SLOT(last, D_state);
            int same = last_state == NULL ? -1 : states_same(last_state, state);
            if (same < 0 || exact_ssize(merge_obj, &size) < 0 || size < 0) {
                goto done; /* State.same in Python (its == of values, of layouts) */
            }
            if (same && size && n % size == 0 && last_count % size == 0) {
                if (exact_ssize(SLOT(last, D_ranges), &last_ranges) < 0 ||
                    last_ranges == PY_SSIZE_T_MAX || n > PY_SSIZE_T_MAX - last_count) {
                    goto done;
                }
                merge = 1;
            }
        }
    }
    python = 0; /* from here, a failure raises: nothing is left half-done */

    /* Everything that can fail, first. */
    view = items_view(items, k, n);
    first_obj = PyLong_FromSsize_t(first);
    used_obj = PyLong_FromSsize_t(end);
    total_obj = PyLong_FromSsize_t(total);
    if (view == NULL || first_obj == NULL || used_obj == NULL || total_obj == NULL) {
        goto done;
    }
    pair = PyTuple_Pack(2, first_obj, args[0]);
    if (pair == NULL) {
        goto done;
    }
    if (merge) {
        count_obj = PyLong_FromSsize_t(last_count + n);
        nranges_obj = PyLong_FromSsize_t(last_ranges + 1);
        if (count_obj == NULL || nranges_obj == NULL) {
            goto done;
        }
    }
    else {
        /* Draw(PLAIN, state, first, n, None, len(ranges) - 1, layer), as its __init__ does */
        range_start = PyLong_FromSsize_t(PyList_GET_SIZE(ranges));
        if (range_start == NULL) {
            goto done;
        }
        draw = draw_type->tp_alloc(draw_type, 0);
        if (draw == NULL) {
            goto done;
        }
        SLOT(draw, D_kind) = Py_NewRef(plain_kind);
        SLOT(draw, D_state) = Py_NewRef(state);
        SLOT(draw, D_first) = Py_NewRef(first_obj);
        SLOT(draw, D_count) = Py_NewRef(args[0]);
        SLOT(draw, D_base) = Py_NewRef(Py_None);
        SLOT(draw, D_range_start) = Py_NewRef(range_start);
        SLOT(draw, D_layer) = Py_NewRef(layer);
        SLOT(draw, D_ranges) = Py_NewRef(int_one);
        SLOT(draw, D_command) = Py_NewRef(int_minus_one);
    }
    /* Python code may have run since the frame was read: the options' __hash__ and
     * __eq__ in the state lookup, a finalizer in a collection the allocations above
     * set off. If it changed the frame (a reserve, end()), what was read is stale:
     * drop what was made and let Python start over. */
    {
        Py_ssize_t phase2, total2, start2, used2, cap2;
        if (exact_ssize(SLOT(self, F_phase), &phase2) < 0 || phase2 != OPEN_PHASE ||
            exact_ssize(SLOT(self, F_vertex_total), &total2) < 0 || total2 != vertex_total ||
            SLOT(self, F_vertices) != stream || SLOT(self, F_ranges) != ranges ||
            SLOT(self, F_draws) != draws || SLOT(self, F_lasts) != lasts ||
            SLOT(self, F_last) != last_seen || SLOT(self, F_last_layer) != last_layer ||
            PyList_GET_SIZE(ranges) != nranges || PyList_GET_SIZE(draws) != ndraws ||
            SLOT(stream, T_typed) != typed_ref ||
            exact_ssize(SLOT(stream, T_start), &start2) < 0 || start2 != start ||
            exact_ssize(SLOT(stream, T_used), &used2) < 0 || used2 != used ||
            exact_ssize(SLOT(stream, T_cap), &cap2) < 0 || cap2 != cap) {
            PyErr_Clear(); /* exact_ssize may have set one: Python reads it afresh */
            python = 1;
            goto done;
        }
    }
    if (PyList_Append(ranges, pair) < 0) {
        goto done;
    }
    if (!merge) {
        if (PyList_Append(draws, draw) < 0) {
            list_pop_last(ranges);
            goto done;
        }
        if (!same_layer && PyDict_SetItem(lasts, last_layer, SLOT(self, F_last)) < 0) {
            list_pop_last(draws);
            list_pop_last(ranges);
            goto done;
        }
    }

    /* The commit: plain stores, then the old values let go. */
    PyObject *old[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    old[0] = swap_slot(stream, T_used, used_obj);
    used_obj = NULL;
    old[1] = swap_slot(self, F_vertex_total, total_obj);
    total_obj = NULL;
    if (merge) {
        old[2] = swap_slot(last, D_count, count_obj);
        old[3] = swap_slot(last, D_ranges, nranges_obj);
        count_obj = nranges_obj = NULL;
    }
    else {
        old[2] = swap_slot(self, F_last, Py_NewRef(draw));
        if (!same_layer) {
            old[3] = swap_slot(self, F_last_layer, Py_NewRef(layer));
            old[4] = swap_slot(self, F_layered, Py_NewRef(Py_True));
        }
    }
    for (int i = 0; i < 6; i++) {
        Py_XDECREF(old[i]);
    }
    result = view;
    view = NULL;

    } /* (a block: the jumps to `done` leave its variables behind) */
done:
    Py_DECREF(state);
    Py_XDECREF(stream);
    Py_XDECREF(entry);
    Py_XDECREF(last);
    Py_XDECREF(ranges);
    Py_XDECREF(draws);
    Py_XDECREF(lasts);
    Py_XDECREF(last_layer);
    Py_XDECREF(view);
    Py_XDECREF(first_obj);
    Py_XDECREF(pair);
    Py_XDECREF(used_obj);
    Py_XDECREF(total_obj);
    Py_XDECREF(count_obj);
    Py_XDECREF(nranges_obj);
    Py_XDECREF(draw);
    Py_XDECREF(range_start);
    Py_XDECREF(typed_ref);
    Py_XDECREF(last_seen);
    if (result != NULL || !python) {
        return result;
    }
    return reserve_in_python(self, args, nargs, kwnames);
}

static PyMethodDef reserve_def = {
    "reserve", (PyCFunction)(void (*)(void))frame_reserve, METH_FASTCALL | METH_KEYWORDS, NULL};

/* -- configure: the slots of the Python classes ------------------------------- */

/* The offset of the slot `name` that `type` itself declares (an object slot). */
static int
find_slot(PyTypeObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        PyDescr_TYPE(descr) != type) {
        PyErr_Format(PyExc_TypeError, "configure: %s has no slot %s", type->tp_name, name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY) || member->offset <= 0 ||
        (Py_ssize_t)(member->offset + sizeof(PyObject *)) > type->tp_basicsize) {
        PyErr_Format(PyExc_TypeError, "configure: %s.%s is not a plain slot", type->tp_name,
                     name);
        return -1;
    }
    *offset = member->offset;
    return 0;
}

typedef struct {
    const char *name;
    Py_ssize_t *offset;
} SlotSpec;

static int
find_slots(PyObject *type, const SlotSpec *specs, Py_ssize_t count, int exact)
{
    if (!PyType_Check(type) || !(((PyTypeObject *)type)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "configure: expected the recording's classes");
        return -1;
    }
    PyTypeObject *t = (PyTypeObject *)type;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (find_slot(t, specs[i].name, specs[i].offset) < 0) {
            return -1;
        }
    }
    /* A class this file makes instances of: these slots and nothing more (no
     * __dict__, no weak references, no other base, no finalizer to skip). */
    if (exact && (t->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + count * sizeof(PyObject *)) ||
                  t->tp_dictoffset != 0 || t->tp_weaklistoffset != 0 ||
                  t->tp_base != &PyBaseObject_Type || t->tp_finalize != NULL ||
                  t->tp_del != NULL)) {
        PyErr_Format(PyExc_TypeError, "configure: %s has other fields than %zd slots",
                     t->tp_name, count);
        return -1;
    }
    return 0;
}

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *frame, *draw, *state, *stream, *layout, *doc;
    long open_phase, plain, vertices;
    if (!PyArg_ParseTuple(args, "OOOOOlllU:configure", &frame, &draw, &state, &stream, &layout,
                          &open_phase, &plain, &vertices, &doc)) {
        return NULL;
    }
    if (frame_type != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure: the recording is configured once");
        return NULL;
    }
    if (plain != 0) {
        PyErr_SetString(PyExc_ValueError, "configure: the plain draw kind must be 0");
        return NULL;
    }
    const SlotSpec frame_slots[] = {
        {"_phase", &F_phase},
        {"_default", &F_default},
        {"_default_checked", &F_default_checked},
        {"_watch", &F_watch},
        {"_vertex_total", &F_vertex_total},
        {"_max_vertices", &F_max_vertices},
        {"_vertices", &F_vertices},
        {"_ranges", &F_ranges},
        {"_draws", &F_draws},
        {"_last", &F_last},
        {"_last_layer", &F_last_layer},
        {"_lasts", &F_lasts},
        {"_layered", &F_layered},
        {"_states", &F_states},
    };
    const SlotSpec state_slots[] = {
        {"layout", &S_layout},   {"merge", &S_merge},       {"mode", &S_mode},
        {"program", &S_program}, {"uniforms", &S_uniforms}, {"textures", &S_textures},
    };
    /* every slot of a Draw: this file makes Draws */
    const SlotSpec draw_slots[] = {
        {"kind", &D_kind},   {"state", &D_state},
        {"first", &D_first}, {"count", &D_count},
        {"base", &D_base},   {"range_start", &D_range_start},
        {"layer", &D_layer}, {"ranges", &D_ranges},
        {"command", &D_command},
    };
    const SlotSpec stream_slots[] = {
        {"start", &T_start}, {"used", &T_used}, {"cap", &T_cap}, {"typed", &T_typed}};
    const SlotSpec layout_slots[] = {{"_stride", &L_stride}};
    if (find_slots(frame, frame_slots, 14, 0) < 0 || find_slots(state, state_slots, 6, 0) < 0 ||
        find_slots(draw, draw_slots, 9, 1) < 0 || find_slots(stream, stream_slots, 4, 0) < 0 ||
        find_slots(layout, layout_slots, 1, 0) < 0) {
        return NULL;
    }
    vertices_reads = PyLong_FromLong(vertices);
    plain_kind = PyLong_FromLong(plain);
    if (vertices_reads == NULL || plain_kind == NULL) {
        return NULL;
    }
    /* The method's doc: its signature, then the Python method's docstring. */
    PyObject *text = PyUnicode_FromFormat(
        "reserve($self, count, *, mode=None, program=None, layout=None, uniforms=None, "
        "textures=None, layer=0)\n--\n\n%U",
        doc);
    if (text == NULL) {
        return NULL;
    }
    const char *utf8 = PyUnicode_AsUTF8(text);
    char *copy = utf8 == NULL ? NULL : PyMem_RawMalloc(strlen(utf8) + 1);
    if (copy == NULL) {
        Py_DECREF(text);
        return utf8 == NULL ? NULL : PyErr_NoMemory();
    }
    strcpy(copy, utf8); /* kept for the life of the process, as the method is */
    Py_DECREF(text);
    reserve_def.ml_doc = copy;
    PyObject *method = PyDescr_NewMethod((PyTypeObject *)frame, &reserve_def);
    if (method == NULL) {
        return NULL;
    }
    OPEN_PHASE = open_phase;
    frame_type = (PyTypeObject *)Py_NewRef(frame);
    draw_type = (PyTypeObject *)Py_NewRef(draw);
    state_type = (PyTypeObject *)Py_NewRef(state);
    stream_type = (PyTypeObject *)Py_NewRef(stream);
    layout_type = (PyTypeObject *)Py_NewRef(layout);
    return method;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(Frame, Draw, State, Stream, VertexLayout, open_phase, plain_kind, "
     "vertices_reads, doc)\n"
     "--\n\n"
     "Find the slots of the recording's classes; return the compiled Frame.reserve (a "
     "method descriptor of Frame, whose doc is `doc` after the signature)."},
    {NULL},
};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stagebuf._recording._fast",
    .m_doc = "The recording's compiled fast path (see stagebuf/_recording/_fast.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fast(void)
{
    import_array();
    static const char *names[6] = {"mode", "program", "layout", "uniforms", "textures", "layer"};
    for (int i = 0; i < 6; i++) {
        kw_names[i] = PyUnicode_InternFromString(names[i]);
        if (kw_names[i] == NULL) {
            return NULL;
        }
    }
    str_reserve_slow = PyUnicode_InternFromString("_reserve_slow");
    int_zero = PyLong_FromLong(0);
    int_one = PyLong_FromLong(1);
    int_minus_one = PyLong_FromLong(-1);
    if (str_reserve_slow == NULL || int_zero == NULL || int_one == NULL ||
        int_minus_one == NULL) {
        return NULL;
    }
    return PyModule_Create(&fast_module);
}
