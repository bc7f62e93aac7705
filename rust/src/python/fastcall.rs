//! Native callables that CPython calls without an argument tuple.
//!
//! Calling a pyclass instance goes through its `tp_call`: the interpreter packs the
//! arguments into a new tuple (`_PyObject_MakeTpCall`), pyo3's trampoline unpacks them (and a
//! `*args` signature copies them into a second tuple) and checks the receiver's type. For an
//! object called on every request that is half the call (callgrind, inclusive: a `SlotsMaker`
//! call ~580 instructions through `tp_call`, ~280 as the builtin below). A builtin function with the
//! `METH_FASTCALL` (or `METH_O`) convention is called by vectorcall with the caller's
//! argument array itself; [`MethodDef::bind`] makes one whose receiver is a given pyclass
//! instance, so the C function knows its receiver's type without a check.
//!
//! Two ways to run the body. [`answer`] is the cheapest (~40 instructions): it does not tell
//! pyo3 the GIL is held, so a `Py<T>` the body drops goes to pyo3's deferred reference pool,
//! and the first one starts that pool, whose mutex every later pyo3 call in the process then
//! takes (~470 instructions a request). It suits bodies that drop no `Py<T>` (the makers:
//! errors are handed to Python, not dropped). A body that recovers from errors (the log
//! entry: the encoder drops the PyErr of a value it leaves to Python) goes through pyo3's own
//! trampoline instead (`pyo3::impl_::trampoline`, what its generated methods call: public,
//! though hidden from its docs), which counts the GIL (~100 instructions more: a maker call
//! measured 369 → 485).

use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::PyClass;
use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A `PyMethodDef` for builtin functions whose receiver (`self`) is always a `T`.
///
/// The C function given to a constructor may take its receiver as a `T` unchecked: the only
/// way to make a function object from this definition is [`MethodDef::bind`], which takes a
/// `T` as the receiver, and CPython passes a function object's receiver to its C function
/// unchanged (`m_self`, kept alive by the function object).
pub(crate) struct MethodDef<T> {
    def: UnsafeCell<ffi::PyMethodDef>,
    receiver: PhantomData<fn() -> T>,
}

// SAFETY: after construction nothing writes the PyMethodDef: CPython keeps a pointer to it in
// each function object and only reads through it, and this module hands out no `&mut`.
unsafe impl<T> Sync for MethodDef<T> {}

impl<T: PyClass> MethodDef<T> {
    /// A definition of a `METH_FASTCALL` function (positional arguments as an array).
    pub(crate) const fn fastcall(name: &'static CStr, doc: &'static CStr, call: ffi::PyCFunctionFast) -> Self {
        Self::with(name, doc, ffi::PyMethodDefPointer { PyCFunctionFast: call }, ffi::METH_FASTCALL)
    }

    /// A definition of a `METH_O` function (exactly one positional argument).
    pub(crate) const fn one_argument(name: &'static CStr, doc: &'static CStr, call: ffi::PyCFunction) -> Self {
        Self::with(name, doc, ffi::PyMethodDefPointer { PyCFunction: call }, ffi::METH_O)
    }

    const fn with(name: &'static CStr, doc: &'static CStr, meth: ffi::PyMethodDefPointer, flags: std::os::raw::c_int) -> Self {
        MethodDef {
            def: UnsafeCell::new(ffi::PyMethodDef { ml_name: name.as_ptr(), ml_meth: meth, ml_flags: flags, ml_doc: doc.as_ptr() }),
            receiver: PhantomData,
        }
    }

    /// A builtin function object calling this definition's C function with `receiver` as
    /// its `self` (the function holds a strong reference to it).
    pub(crate) fn bind<'py>(&'static self, receiver: &Bound<'py, T>) -> PyResult<Bound<'py, PyAny>> {
        let py = receiver.py();
        // SAFETY: the definition is 'static and never written (see Sync above); the receiver
        // is a live object (CPython takes its own reference). A NULL answer sets an error.
        unsafe {
            let function = ffi::PyCFunction_NewEx(self.def.get(), receiver.as_ptr(), std::ptr::null_mut());
            Bound::from_owned_ptr_or_err(py, function)
        }
    }
}

/// `receiver.name(*args, context=context)`: what the drives call `call_soon`,
/// `add_done_callback` and `create_task` with (`context_keyword`: the tuple ("context",)),
/// without building an argument tuple or a keyword dict. At most two positional arguments.
pub(crate) fn call_method_in_context<'py>(
    receiver: &Bound<'py, PyAny>,
    name: &Bound<'py, pyo3::types::PyString>,
    args: &[&Bound<'py, PyAny>],
    context: &Bound<'py, PyAny>,
    context_keyword: &Bound<'py, pyo3::types::PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = receiver.py();
    if args.len() > 2 || context_keyword.len() != 1 {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "call_method_in_context: at most two arguments and one keyword",
        ));
    }
    let mut ptrs = [std::ptr::null_mut(); 4];
    ptrs[0] = receiver.as_ptr();
    for (i, arg) in args.iter().enumerate() {
        ptrs[i + 1] = arg.as_ptr();
    }
    ptrs[args.len() + 1] = context.as_ptr();
    let nargs = (args.len() + 1) | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
    // SAFETY: `ptrs` holds the receiver, `args.len()` positional arguments and the value of
    // the one keyword in `context_keyword`, each a live reference borrowed for the call. With
    // PY_VECTORCALL_ARGUMENTS_OFFSET the callee may overwrite `ptrs[0]` for the duration of
    // the call and restores it: `ptrs` is a mutable local, passed as such. The result is a
    // new reference or NULL with the error set.
    unsafe {
        let result = ffi::PyObject_VectorcallMethod(name.as_ptr(), ptrs.as_mut_ptr(), nargs, context_keyword.as_ptr());
        Bound::from_owned_ptr_or_err(py, result)
    }
}

/// `slf` as the `T` it is (a new reference).
///
/// # Safety
/// `slf` must be the receiver of a function object made by [`MethodDef::bind`] from a
/// `MethodDef<T>` (then it is a live `T`, borrowed for the call), and the GIL held.
pub(crate) unsafe fn receiver<'py, T: PyClass>(py: Python<'py>, slf: *mut ffi::PyObject) -> Bound<'py, T> {
    // SAFETY: by the contract above `slf` is a live, non-null reference to a T; the Bound
    // takes a reference of its own.
    unsafe { Bound::from_borrowed_ptr(py, slf).downcast_into_unchecked::<T>() }
}

/// The positional arguments of a `METH_FASTCALL` call as a slice of borrowed references.
///
/// # Safety
/// `args` and `nargs` must be what CPython passed to a `METH_FASTCALL` function (`nargs`
/// readable pointers from `args`; `args` may be NULL when `nargs` is 0), used during the call.
pub(crate) unsafe fn arguments<'a>(args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> &'a [*mut ffi::PyObject] {
    if args.is_null() || nargs <= 0 {
        return &[];
    }
    // SAFETY: CPython passes `nargs` valid pointers starting at `args` for the call's length.
    unsafe { std::slice::from_raw_parts(args, nargs as usize) }
}

/// Runs a builtin function's body as CPython expects of a C function: its result as a new
/// reference, or NULL with the error set; a panic becomes a `PanicException`, never an unwind
/// across the C boundary. pyo3 is not told the GIL is held, so the body must drop no `Py<T>`
/// (see the module docs): it holds `Bound` values and hands its errors back.
///
/// # Safety
/// Only from a C function CPython called (the GIL is held by this thread).
pub(crate) unsafe fn answer(body: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>) -> *mut ffi::PyObject {
    // SAFETY: CPython holds the GIL while it runs a builtin function (the caller's contract).
    let py = unsafe { Python::assume_gil_acquired() };
    let err = match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(value)) => return value.into_ptr(),
        Ok(Err(err)) => err,
        Err(payload) => {
            let what = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
            PanicException::new_err(what.unwrap_or_else(|| "a panic in a native call".to_owned()))
        }
    };
    err.restore(py);
    std::ptr::null_mut()
}

/// `one_argument_through_trampoline!(c_fn, Receiver, method)` defines `c_fn`, the C function of
/// a `METH_O` [`MethodDef`]`<Receiver>`: it calls `receiver.method(&arg)` (a method of a frozen
/// pyclass returning `PyResult<Bound<PyAny>>`) through pyo3's own trampoline, which counts the
/// GIL, for bodies that may drop a `Py<T>` (see the module docs: [`answer`] is for the others).
macro_rules! one_argument_through_trampoline {
    ($c_fn:ident, $receiver:ty, $method:ident) => {
        unsafe extern "C" fn $c_fn(slf: *mut pyo3::ffi::PyObject, arg: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject {
            /// # Safety
            /// The arguments of a call CPython made to a function that `MethodDef::bind` made
            /// from a `MethodDef` of this receiver type: `slf` such a receiver, `arg` a live
            /// object for the call.
            unsafe fn body(py: pyo3::Python<'_>, slf: *mut pyo3::ffi::PyObject, arg: *mut pyo3::ffi::PyObject) -> pyo3::PyResult<*mut pyo3::ffi::PyObject> {
                // SAFETY: the contract above.
                unsafe {
                    let receiver = $crate::python::fastcall::receiver::<$receiver>(py, slf);
                    receiver.get().$method(&pyo3::Bound::from_borrowed_ptr(py, arg)).map(pyo3::Bound::into_ptr)
                }
            }
            // SAFETY: CPython calls a builtin's C function with the GIL held and the arguments
            // `body` expects (the receiver its MethodDef was bound to).
            unsafe { pyo3::impl_::trampoline::binaryfunc(slf, arg, body) }
        }
    };
}
pub(crate) use one_argument_through_trampoline;

/// `bound_argument_through_trampoline!(c_fn, Receiver, function)`: as
/// `one_argument_through_trampoline!`, for a receiver that is not frozen (the drives, which
/// borrow themselves mutably): `c_fn` calls `function(&receiver)` (a free function taking the
/// `&Bound` receiver and returning `PyResult<Bound<PyAny>>`); the argument is not read.
macro_rules! bound_argument_through_trampoline {
    ($c_fn:ident, $receiver:ty, $function:path) => {
        unsafe extern "C" fn $c_fn(slf: *mut pyo3::ffi::PyObject, arg: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject {
            /// # Safety
            /// The arguments of a call CPython made to a function that `MethodDef::bind` made
            /// from a `MethodDef` of this receiver type: `slf` such a receiver.
            unsafe fn body(py: pyo3::Python<'_>, slf: *mut pyo3::ffi::PyObject, _arg: *mut pyo3::ffi::PyObject) -> pyo3::PyResult<*mut pyo3::ffi::PyObject> {
                // SAFETY: the contract above.
                let receiver = unsafe { $crate::python::fastcall::receiver::<$receiver>(py, slf) };
                $function(&receiver).map(pyo3::Bound::into_ptr)
            }
            // SAFETY: CPython calls a builtin's C function with the GIL held and the receiver
            // its MethodDef was bound to.
            unsafe { pyo3::impl_::trampoline::binaryfunc(slf, arg, body) }
        }
    };
}
pub(crate) use bound_argument_through_trampoline;

/// A frozen pyclass whose builtin function takes exactly `N` positional arguments (the native
/// data plane's entries: `UpstreamExchange`'s send, `WholeAnswer`, `UsualPlan`, `UsualRun`),
/// called through [`fixed_arity`].
pub(crate) trait FixedArity<const N: usize>: PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync {
    /// The function's name, for the TypeError a wrong number of arguments gets.
    const FUNCTION: &'static str;

    /// The call's answer for `args` (borrowed for the call).
    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; N]) -> PyResult<Bound<'py, PyAny>>;
}

/// The C function of a `METH_FASTCALL` [`MethodDef`]`<T>`: `T::call` over CPython's argument
/// array (no tuple, no allocation), through pyo3's own trampoline, which counts the GIL, so the
/// body may drop a `Py<T>` or a `PyErr` (see the module docs). TypeError unless exactly `N`
/// arguments are given.
///
/// # Safety
/// Only as the C function of a `MethodDef<T>` (CPython then passes a receiver made by
/// [`MethodDef::bind`], a valid argument array and the GIL).
pub(crate) unsafe extern "C" fn fixed_arity<T: FixedArity<N>, const N: usize>(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    /// # Safety
    /// As `fixed_arity`'s: a receiver made by `bind`, `nargs` live objects from `args`.
    unsafe fn body<T: FixedArity<N>, const N: usize>(
        py: Python<'_>,
        slf: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargs: ffi::Py_ssize_t,
        _: *mut ffi::PyObject,
    ) -> PyResult<*mut ffi::PyObject> {
        // SAFETY: the contract above.
        let (receiver, args) = unsafe { (receiver::<T>(py, slf), arguments(args, nargs)) };
        if args.len() != N {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!("{} takes {N} arguments, got {}", T::FUNCTION, args.len())));
        }
        // SAFETY: each is a live object CPython lends for the call; the Bound takes its own reference.
        let args = std::array::from_fn(|i| unsafe { Bound::from_borrowed_ptr(py, args[i]) });
        receiver.get().call(py, args).map(Bound::into_ptr)
    }
    // SAFETY: the caller's contract; METH_FASTCALL passes no keywords, so none are passed on.
    unsafe { pyo3::impl_::trampoline::fastcall_with_keywords(slf, args, nargs, std::ptr::null_mut(), body::<T, N>) }
}
