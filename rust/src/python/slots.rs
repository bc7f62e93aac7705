//! `SlotsMaker`: instances of one `__slots__` dataclass built in one native call.
//!
//! A request makes about ten small dataclass objects (its log record, steps, calls, attempts,
//! answer); each `Cls(...)` runs `type.__call__`, `object.__new__` and the generated Python
//! `__init__` (a frame and one store per field): 150–450 ns apiece under `timeit`. A maker
//! allocates the instance as `object.__new__` would and writes every field's slot directly
//! (what the generated `__init__`'s stores do), taking the fields positionally, in field
//! order, with the dataclass's defaults for the ones left out.
//!
//! Which classes qualify is decided in Python (`aigw.slots_maker.maker`): the field list and
//! its defaults come from `dataclasses.fields`. This side checks the layout it writes into:
//! every field must be a plain object slot of the class (a member descriptor of type
//! `Py_T_OBJECT_EX` inside the instance size, not read-only), and the class must be created by
//! `object.__new__` (no `__new__` of its own), which is what the maker does.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

use super::fastcall::{self, MethodDef};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SlotsMaker>()?;
    Ok(())
}

/// What a field left out of a call gets.
enum Missing {
    /// Nothing: the call must give it.
    Required,
    /// The same object for every instance (the dataclass's `default`).
    Value(Py<PyAny>),
    /// A new empty list / dict (`default_factory=list` / `dict`), made without a call.
    NewList,
    NewDict,
    /// The result of calling a `default_factory`.
    Factory(Py<PyAny>),
}

/// Builds instances of one slots class from its fields given positionally (see the module docs).
#[pyclass(module = "aigw._codec", frozen)]
pub struct SlotsMaker {
    ty: Py<PyType>,
    offsets: Vec<isize>,
    missing: Vec<Missing>,
    required: usize,
}

/// Byte offset of `name`'s slot in an instance of `ty`, when it is a plain object slot.
pub(crate) fn slot_offset(ty: &Bound<'_, PyType>, name: &Bound<'_, PyString>) -> PyResult<isize> {
    let py = ty.py();
    let member_descriptor = py.import("types")?.getattr("MemberDescriptorType")?;
    let descr = ty.getattr(name)?; // the descriptor itself: a class attribute lookup through the MRO
    if !descr.get_type().is(&member_descriptor) {
        return Err(PyValueError::new_err(format!("{name} is not a slot of {}", ty.name()?)));
    }
    // SAFETY: tp_basicsize is a plain field of a live type object (we hold a reference).
    let basicsize = unsafe { (*ty.as_type_ptr()).tp_basicsize };
    // SAFETY: `descr` is exactly a member_descriptor, i.e. a PyMemberDescrObject whose d_member
    // points at the PyMemberDef of the slot (alive as long as the class that defines it, which
    // `ty` keeps through its MRO). pyo3-ffi types d_member as PyGetSetDef; it is a PyMemberDef
    // in CPython (Include/cpython/descrobject.h), so the cast is right (as in logrow.rs).
    let def = unsafe { &*((*(descr.as_ptr() as *mut ffi::PyMemberDescrObject)).d_member as *const ffi::PyMemberDef) };
    let fits = def.offset > 0 && def.offset + std::mem::size_of::<*mut ffi::PyObject>() as isize <= basicsize;
    if def.type_code != ffi::Py_T_OBJECT_EX || !fits || (def.flags & ffi::Py_READONLY) != 0 {
        return Err(PyValueError::new_err(format!("{name} is not a writable object slot of {}", ty.name()?)));
    }
    // The descriptor must describe `ty`'s own layout: its class is `ty` or a base of it.
    let owner = descr.getattr("__objclass__")?;
    if !ty.is_subclass(owner.downcast::<PyType>()?)? {
        return Err(PyValueError::new_err(format!("{name} is a slot of another class")));
    }
    Ok(def.offset)
}

#[pymethods]
impl SlotsMaker {
    /// `fields`: (name, kind, value) per field in order; kind 0 required, 1 `value` is the
    /// default, 2 `value` is a default factory. Required fields come first. ValueError when a
    /// field is not a plain object slot of `cls` or the order is wrong; TypeError when `cls`
    /// does not allocate with CPython's generic allocator.
    #[new]
    fn new(cls: &Bound<'_, PyType>, fields: Vec<(Bound<'_, PyString>, u8, Bound<'_, PyAny>)>) -> PyResult<Self> {
        let py = cls.py();
        // SAFETY: tp_new and tp_alloc are plain fields of live type objects (`cls`, and
        // `object`, which lives as long as the interpreter).
        let (new, alloc, object_new) = unsafe {
            let ty = &*cls.as_type_ptr();
            (ty.tp_new, ty.tp_alloc, (*std::ptr::addr_of!(ffi::PyBaseObject_Type)).tp_new)
        };
        let news_as_object = matches!((new, object_new), (Some(a), Some(b)) if std::ptr::fn_addr_eq(a, b));
        if !news_as_object || alloc.is_none() {
            return Err(PyTypeError::new_err(format!("{} has its own __new__", cls.name()?)));
        }
        let list_type = py.get_type::<PyList>();
        let dict_type = py.get_type::<PyDict>();
        let mut offsets = Vec::with_capacity(fields.len());
        let mut missing = Vec::with_capacity(fields.len());
        let mut required = 0;
        for (name, kind, value) in &fields {
            offsets.push(slot_offset(cls, name)?);
            missing.push(match kind {
                0 => {
                    if required != missing.len() {
                        return Err(PyValueError::new_err(format!("required field {name} after a field with a default")));
                    }
                    required += 1;
                    Missing::Required
                }
                1 => Missing::Value(value.clone().unbind()),
                2 if value.is(&list_type) => Missing::NewList,
                2 if value.is(&dict_type) => Missing::NewDict,
                2 => Missing::Factory(value.clone().unbind()),
                _ => return Err(PyValueError::new_err(format!("field {name}: kind must be 0, 1 or 2"))),
            });
        }
        Ok(SlotsMaker { ty: cls.clone().unbind(), offsets, missing, required })
    }

    /// A new instance with `args` as its first fields, in order, and the defaults of the rest.
    /// TypeError for too few or too many arguments; whatever a default factory raises.
    #[pyo3(signature = (*args))]
    fn __call__<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let args: Vec<*mut ffi::PyObject> = args.iter_borrowed().map(|a| a.as_ptr()).collect();
        // SAFETY: the tuple (held for the call) keeps each of its items alive.
        unsafe { self.make(py, &args) }
    }

    /// A builtin function doing what calling this maker does, called without an argument
    /// tuple (`METH_FASTCALL`): what `aigw.slots_maker` hands out.
    fn as_function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        MAKE.bind(slf)
    }
}

static MAKE: MethodDef<SlotsMaker> = MethodDef::fastcall(c"make", c"A new instance with the arguments as its first fields, in order.", make_fast);

/// `MAKE`'s C function: `SlotsMaker.make` over CPython's argument array.
unsafe extern "C" fn make_fast(slf: *mut ffi::PyObject, args: *mut *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this as MAKE's C function, whose receiver is a SlotsMaker
    // (`fastcall::receiver`), with the GIL held and its argument array valid for the call.
    unsafe {
        fastcall::answer(|py| {
            let maker = fastcall::receiver::<SlotsMaker>(py, slf);
            maker.get().make(py, fastcall::arguments(args, nargs))
        })
    }
}

impl SlotsMaker {
    /// A new instance with `args` as its first fields, in order, and the defaults of the rest.
    /// TypeError for too few or too many arguments; whatever a default factory raises.
    ///
    /// # Safety
    /// Each pointer in `args` must be a live object that the caller keeps alive until this
    /// returns (a borrowed reference: a vectorcall's arguments, a held tuple's items).
    unsafe fn make<'py>(&self, py: Python<'py>, args: &[*mut ffi::PyObject]) -> PyResult<Bound<'py, PyAny>> {
        let given = args.len();
        if given < self.required || given > self.offsets.len() {
            let ty = self.ty.bind(py);
            return Err(PyTypeError::new_err(format!(
                "{} takes {} to {} fields, got {given}",
                ty.name()?,
                self.required,
                self.offsets.len()
            )));
        }
        let ty = self.ty.bind(py);
        // SAFETY: the class is created by object.__new__ (checked in new), which is exactly
        // `tp_alloc(type, 0)` here (there are no arguments to check): the class's allocator
        // returns a new reference to a zeroed instance (every slot NULL; for a Python class
        // PyType_GenericAlloc, which also tracks it for the collector). A NULL slot is skipped
        // by the collector and by dealloc, so the instance is valid at every step below, also
        // if a factory fails half-way.
        let raw = unsafe {
            let ty_ptr = ty.as_type_ptr();
            match (*ty_ptr).tp_alloc {
                Some(alloc) => alloc(ty_ptr, 0),
                None => std::ptr::null_mut(),
            }
        };
        if raw.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `raw` is a new (owned) reference.
        let obj = unsafe { Bound::from_owned_ptr(py, raw) };
        let base = obj.as_ptr() as *mut u8;
        // SAFETY (both loops): `obj` is an instance of exactly `ty`, whose layout has a
        // writable object slot at each offset inside tp_basicsize (checked in new). Each slot
        // is still NULL (each offset is written once, and a dataclass's field names are
        // distinct), so no reference is overwritten; the slot takes the strong reference
        // written into it.
        let write = |offset: isize, value: *mut ffi::PyObject| unsafe {
            let slot = base.offset(offset) as *mut *mut ffi::PyObject;
            debug_assert!((*slot).is_null());
            *slot = value;
        };
        // The fields given, then the defaults of the rest: two plain loops, no per-field
        // question of which kind it is.
        for (&offset, &arg) in self.offsets.iter().zip(args) {
            // SAFETY: a live object borrowed for the call (this function's contract): the
            // slot takes a new strong reference to it.
            unsafe { ffi::Py_INCREF(arg) };
            write(offset, arg);
        }
        for (&offset, missing) in self.offsets[given..].iter().zip(&self.missing[given..]) {
            let value = match missing {
                Missing::Value(v) => v.clone_ref(py).into_ptr(),
                Missing::NewList => PyList::empty(py).into_ptr(),
                Missing::NewDict => PyDict::new(py).into_ptr(),
                Missing::Factory(f) => f.bind(py).call0()?.into_ptr(),
                // Required fields come first and given >= required: never reached.
                Missing::Required => return Err(PyTypeError::new_err("a required field was not given")),
            };
            write(offset, value);
        }
        Ok(obj)
    }
}
